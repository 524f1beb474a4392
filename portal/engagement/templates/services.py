"""Email templates as staff keep them: the list, saving, deleting, and the rows a template page shows."""
from __future__ import annotations

from sqlalchemy import select

from portal.donors.models import Donor
from portal.engagement.models import EmailTemplate, Workflow, WorkflowStep
from portal.extensions import db


def all_templates() -> list[EmailTemplate]:
    return list(db.session.scalars(select(EmailTemplate).order_by(EmailTemplate.name)))


def save_template(template: EmailTemplate | None, fill, *, actor) -> EmailTemplate:
    """Create or update a template from `fill(template)` (a form's populate_obj); commits."""
    if template is None:
        template = EmailTemplate()
        db.session.add(template)
    fill(template)
    template.html_body = template.html_body or ""
    template.updated_by_id = actor.id
    db.session.commit()
    return template


def delete_template(template: EmailTemplate) -> None:
    """Commits. The caller checks workflows_using first: a step must not lose its template."""
    db.session.delete(template)
    db.session.commit()


def workflows_using(template: EmailTemplate) -> list[Workflow]:
    return [step.workflow for step in db.session.scalars(select(WorkflowStep).where(WorkflowStep.kind == "send_email"))
            if (step.config or {}).get("template_id") == template.id]


def preview_donor(donor_id: int | None) -> Donor | None:
    """The donor a preview or test email is personalised for, if the id names one."""
    return db.session.get(Donor, donor_id) if isinstance(donor_id, int) else None


def preview_donors(text: str, limit: int = 8) -> list[Donor]:
    """Donors to preview a template with, whose name or email starts with `text` (already lower-cased)."""
    return list(db.session.scalars(select(Donor).where(
        (Donor.name_key.startswith(text, autoescape=True)) | (Donor.first_key.startswith(text, autoescape=True))
        | (Donor.email.startswith(text, autoescape=True))).order_by(Donor.name_key).limit(limit)))
