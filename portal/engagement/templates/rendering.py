"""Email templates written by staff: sandboxed Jinja with personalisation tokens.

Staff-written Jinja runs in an immutable sandbox with no globals (no `range`), sees only the token values
below (plain strings), and cannot reach the application. A missing value falls back politely ("Dear friend").

Rendering is bounded, in the editor and at send time alike (see `LIMITS`): the text a message may produce,
the loop iterations and calls it may make, the size of any string or number it builds, and the time it may
take. A template that goes past one is refused with the line and a sentence saying which limit it hit.

Tokens come from providers that load a whole batch of donors in a few queries, so rendering
100k messages never runs a query per donor. Other domains add values with
`register_token_provider(name, provider)`; a new token is first declared with `declare_token`.
"""
from __future__ import annotations

import functools
import math
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from flask import current_app
from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup
from sqlalchemy import func, select

from portal.donors.models import Donor, Tag, donor_interests
from portal.extensions import db
from portal.giving.models import DonorStats, Gift, RecurringPlan
from portal.money import format_money
from portal.settings.services import organisation
from portal.tokens import external_url, unsubscribe_url

TokenProvider = Callable[[list[int]], dict[int, dict[str, Any]]]


@dataclass(frozen=True)
class Token:
    name: str
    description: str
    example: str
    fallback: str = ""


TOKENS: dict[str, Token] = {}
_PROVIDERS: dict[str, TokenProvider] = {}


def declare_token(name: str, description: str, *, example: str, fallback: str = "") -> None:
    """Make a token usable in templates. Its value comes from a provider; `fallback` when none has one."""
    TOKENS[name] = Token(name, description, example, fallback)


def register_token_provider(name: str, provider: TokenProvider) -> None:
    """provider(donor_ids) -> {donor_id: {token: value}} for the whole batch, in a few queries.
    Later providers override earlier ones for the same token; values are shown with str()."""
    _PROVIDERS[name] = provider


for _name, _description, _example, _fallback in (
    ("first_name", "First name (organisations: their name)", "Amelia", "friend"),
    ("last_name", "Last name", "Clarke", ""),
    ("full_name", "Full name", "Amelia Clarke", "friend"),
    ("email", "The donor's email address", "amelia.clarke@example.org", ""),
    ("last_gift_amount", "Amount of the most recent gift", "£75.00", ""),
    ("last_gift_fund", "Fund of the most recent gift", "Lifeboat crews", "our work"),
    ("last_gift_date", "Date of the most recent gift", "3 March 2026", ""),
    ("first_gift_date", "Date of the first gift", "12 June 2023", ""),
    ("lifetime_total", "Everything they have given", "£175.00", ""),
    ("gift_count", "How many gifts they have made", "4", "0"),
    ("points_balance", "Loyalty points balance", "1,250", "0"),
    ("tier", "Loyalty tier", "Silver", ""),
    ("renewal_date", "Next renewal of their sponsorship or membership", "14 March 2027", ""),
    ("sponsorship", "What their sponsorship or membership supports", "Sponsoring the Whitby crew", ""),
    ("interests", "Causes they care about", "lifeboats and education", "our work"),
    ("donor_since", "Year they became a supporter", "2023", ""),
    ("organisation_name", "Our organisation's name", "Harbour Trust", ""),
    ("impact_line", "Our impact sentence (Organisation settings)", "Every £25 keeps a crew trained for a month.", ""),
    ("support_email", "Our support email address", "support@harbourtrust.example", ""),
    ("portal_url", "Link to the donor portal", "https://portal.example/me/", ""),
    ("unsubscribe_url", "One-click unsubscribe link", "https://portal.example/unsubscribe/…", ""),
):
    declare_token(_name, _description, example=_example, fallback=_fallback)


# ---------------------------------------------------------------- bounded rendering

@dataclass(frozen=True)
class Limits:
    output_chars: int = 200_000  # one rendered part (subject, HTML or text): far beyond any real email
    steps: int = 10_000  # loop iterations and calls, for the whole message
    string_chars: int = 100_000  # any string or list built while rendering
    number: int = 10**15  # any number computed while rendering
    seconds: float = 0.25  # the whole message; real templates take well under a millisecond


LIMITS = Limits()


class TemplateLimitError(TemplateError):
    """A template asked for more work than an email may take; the message says which limit it hit."""


class _Budget:
    def __init__(self, limits: Limits):
        self.limits = limits
        self.steps_left = limits.steps
        self.deadline = time.monotonic() + limits.seconds

    def step(self) -> None:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise TemplateLimitError(f"loops and calls here would run more than {self.limits.steps:,} times; "
                                     "an email template may not do that much work.")
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"this takes longer than {self.limits.seconds:g} seconds to render; "
                                     "make the loops smaller.")


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _current_budget() -> _Budget:
    budget = _budget.get()
    if budget is None:
        raise RuntimeError("templates render inside budget()")
    return budget


@contextmanager
def budget(limits: Limits | None = None) -> Iterator[_Budget]:
    """One budget for everything rendered inside (a whole message); nested uses share the outer one."""
    if _budget.get() is not None:
        yield _budget.get()
        return
    spending = _Budget(limits or LIMITS)
    token = _budget.set(spending)
    try:
        yield spending
    finally:
        _budget.reset(token)


def _checked(value: Any) -> Any:
    """A value the template built, refused when it is larger than the limits allow."""
    limits = _current_budget().limits
    if isinstance(value, (str, list, tuple, dict, set)) and len(value) > limits.string_chars:
        raise TemplateLimitError(f"this builds a text or list longer than {limits.string_chars:,} characters or items.")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limits.number:
        raise TemplateLimitError(f"this works out a number larger than {limits.number:,}.")
    return value


def _refuse_oversized_operands(operator: str, left: Any, right: Any) -> None:
    """Before computing: the operations whose result can be huge from small operands."""
    limits = _current_budget().limits
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    if operator == "**" and numbers and abs(left) > 1 and right > 0 \
            and right * math.log10(abs(left)) > math.log10(limits.number):
        raise TemplateLimitError(f"this works out a number larger than {limits.number:,}.")
    if operator == "*":
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, (str, list, tuple)) and isinstance(count, int) and len(sequence) * count > limits.string_chars:
                raise TemplateLimitError(f"this builds a text or list longer than {limits.string_chars:,} characters or items.")
    if operator == "%" and isinstance(left, str):
        raise TemplateLimitError("% formatting isn't available in email templates; write the text around the token.")


def _refuse_oversized_arguments(args: tuple, kwargs: dict) -> None:
    """Widths and counts passed to filters and methods ('x'.center(n), |indent(n)) build text of that size."""
    limits = _current_budget().limits
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limits.string_chars:
            raise TemplateLimitError(f"a width or count larger than {limits.string_chars:,} isn't allowed here.")


def _bounded_filter(function: Callable) -> Callable:
    @functools.wraps(function)  # keeps Jinja's pass_context / pass_environment marks
    def wrapper(*args, **kwargs):
        _current_budget().step()
        _refuse_oversized_arguments(args[2:] if getattr(function, "jinja_pass_arg", None) else args[1:], kwargs)
        return _checked(function(*args, **kwargs))

    return wrapper


def _counted(iterable: Any) -> Iterator[Any]:
    """Wraps every {% for %} loop's iterable: each iteration spends one step of the message's budget."""
    spending = _current_budget()
    for item in iterable:
        spending.step()
        yield item


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def call_binop(self, context, operator, left, right):
        _refuse_oversized_operands(operator, left, right)
        return _checked(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj, *args, **kwargs):
        _current_budget().step()
        _refuse_oversized_arguments(args, {k: v for k, v in kwargs.items() if not k.startswith("_")})
        return _checked(super().call(__context, __obj, *args, **kwargs))

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "_counted", [], [], None, None, lineno=loop.lineno)
        for constant in tree.find_all(nodes.Const):
            value = constant.value
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > LIMITS.number:
                raise TemplateSyntaxError(f"numbers larger than {LIMITS.number:,} aren't allowed.", constant.lineno, name, filename)
        return tree


def _sandbox(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = _BoundedSandbox(autoescape=autoescape, keep_trailing_newline=True)
    env.globals.clear()
    env.filters = {name: _bounded_filter(function) for name, function in env.filters.items()}
    env.filters["_counted"] = _counted
    return env


def _run(template, context: dict[str, str]) -> str:
    """Render one part, counting its output as it is produced so an oversized one stops early."""
    with budget() as spending:
        chunks, size = [], 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > spending.limits.output_chars:
                raise TemplateLimitError(f"this produces more than {spending.limits.output_chars:,} characters; "
                                         "an email can't be that long.")
            chunks.append(chunk)
        return "".join(chunks)


_TEXT_ENV = _sandbox(autoescape=False)
_HTML_ENV = _sandbox(autoescape=True)
FIELDS = {"subject": "Subject", "html_body": "HTML body", "text_body": "Plain-text body"}


class TemplateProblem(ValueError):
    """Field name -> message with the line, for showing next to the field."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{FIELDS.get(k, k)}: {v}" for k, v in errors.items()))
        self.errors = errors


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool):
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


def _unknown_names(source: str, html: bool) -> list[tuple[str, int]]:
    env = _HTML_ENV if html else _TEXT_ENV
    tree = env.parse(source)
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return [(n.name, n.lineno) for n in tree.find_all(nodes.Name)
            if n.ctx == "load" and n.name not in TOKENS and n.name not in assigned and n.name not in ("loop", "true", "false", "none")]


def check(subject: str, html_body: str, text_body: str, context: dict[str, str] | None = None) -> dict[str, str]:
    """Problems per field, each with its line number; empty when the template can be saved. Each field is
    rendered with the example values, or with `context` (a chosen donor's), within the send-time LIMITS."""
    errors: dict[str, str] = {}
    if not subject.strip():
        errors["subject"] = "Enter a subject."
    if not text_body.strip():
        errors["text_body"] = "Write the plain-text version; some people read email without HTML."
    for field, source in (("subject", subject), ("html_body", html_body), ("text_body", text_body)):
        if field in errors or not source.strip():
            continue
        html = field == "html_body"
        try:
            unknown = _unknown_names(source, html)
        except TemplateSyntaxError as exc:
            errors[field] = f"Line {exc.lineno}: {exc.message}"
            continue
        if unknown:
            name, line = unknown[0]
            errors[field] = f"Line {line}: there is no token called “{name}”. Available tokens are listed beside the editor."
            continue
        try:
            with budget():
                _run(_compiled(source, html), context or example_context())
        except TemplateError as exc:
            errors[field] = f"Line {_error_line(exc)}: {exc}"
        except Exception as exc:  # a type error in staff-written expressions, e.g. {{ first_name + 1 }}
            errors[field] = f"Line {_error_line(exc)}: this cannot be worked out ({exc})."
    return errors


def _error_line(exc: BaseException) -> int:
    """The template line a runtime error came from (Jinja rewrites the traceback to template lines)."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line or 1


def example_context() -> dict[str, str]:
    return {name: token.example for name, token in TOKENS.items()}


# ---------------------------------------------------------------- token values for real donors

def _format_date(value: date | datetime | None) -> str:
    return f"{value.day} {value.strftime('%B %Y')}" if value else ""


def _join_words(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1] if words else ""


def _donor_tokens(donor_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The built-in tokens for a batch: five queries however many donors."""
    currency = organisation().currency
    values: dict[int, dict[str, Any]] = {}
    rows = db.session.execute(
        select(Donor.id, Donor.kind, Donor.first_name, Donor.last_name, Donor.organisation_name, Donor.email,
               func.coalesce(Donor.supporter_since, Donor.created_at).label("created_at"), DonorStats.lifetime_minor,
               DonorStats.gift_count, DonorStats.first_gift_at)
        .outerjoin(DonorStats, DonorStats.donor_id == Donor.id).where(Donor.id.in_(donor_ids))
    ).all()
    portal_url = external_url("/me/")
    for row in rows:
        if row.kind == "organisation":
            first, full = row.organisation_name, row.organisation_name
        else:
            first, full = row.first_name, f"{row.first_name} {row.last_name}".strip()
        values[row.id] = {
            "first_name": first, "last_name": row.last_name if row.kind != "organisation" else "", "full_name": full,
            "email": row.email or "", "lifetime_total": format_money(row.lifetime_minor or 0, currency),
            "gift_count": f"{row.gift_count or 0:,}", "first_gift_date": _format_date(row.first_gift_at),
            "donor_since": str(row.created_at.year) if row.created_at else "", "portal_url": portal_url,
        }
    latest = (select(Gift.donor_id, Gift.amount_minor, Gift.currency, Gift.fund, Gift.received_at,
                     func.row_number().over(partition_by=Gift.donor_id,
                                            order_by=(Gift.received_at.desc(), Gift.id.desc())).label("rank"))
              .where(Gift.donor_id.in_(donor_ids), Gift.status == "received").subquery())
    for row in db.session.execute(select(latest).where(latest.c.rank == 1)):
        values.setdefault(row.donor_id, {}).update(
            last_gift_amount=format_money(row.amount_minor, row.currency), last_gift_fund=row.fund,
            last_gift_date=_format_date(row.received_at))
    plans = (select(RecurringPlan.donor_id, RecurringPlan.renews_on, RecurringPlan.description, RecurringPlan.fund,
                    func.row_number().over(partition_by=RecurringPlan.donor_id,
                                           order_by=(RecurringPlan.renews_on, RecurringPlan.id)).label("rank"))
             .where(RecurringPlan.donor_id.in_(donor_ids), RecurringPlan.status == "active",
                    RecurringPlan.kind.in_(("sponsorship", "membership")), RecurringPlan.renews_on.is_not(None))
             .subquery())
    for row in db.session.execute(select(plans).where(plans.c.rank == 1)):
        values.setdefault(row.donor_id, {}).update(renewal_date=_format_date(row.renews_on),
                                                   sponsorship=row.description or row.fund)
    interests: dict[int, list[str]] = {}
    for donor_id, name in db.session.execute(
        select(donor_interests.c.donor_id, Tag.name).join(Tag, Tag.id == donor_interests.c.tag_id)
        .where(donor_interests.c.donor_id.in_(donor_ids)).order_by(Tag.name)
    ):
        interests.setdefault(donor_id, []).append(name)
    for donor_id, names in interests.items():
        values.setdefault(donor_id, {})["interests"] = _join_words(names)
    return values


def _organisation_tokens() -> dict[str, str]:
    org = organisation()
    return {"organisation_name": org.name, "impact_line": org.impact_line, "support_email": org.support_email}


def contexts_for(donor_ids: Iterable[int], *, with_unsubscribe: bool = True) -> dict[int, dict[str, str]]:
    """Every token's value for each donor: providers' values, then the fallback; all strings."""
    ids = sorted(set(donor_ids))
    merged: dict[int, dict[str, Any]] = {donor_id: {} for donor_id in ids}
    for chunk_start in range(0, len(ids), 1000):
        chunk = ids[chunk_start:chunk_start + 1000]
        for provider in (_donor_tokens, *_PROVIDERS.values()):
            for donor_id, values in provider(chunk).items():
                if donor_id in merged:
                    merged[donor_id].update(values)
    shared = _organisation_tokens()
    contexts = {}
    for donor_id, values in merged.items():
        context = {name: token.fallback for name, token in TOKENS.items()}
        context.update(shared)
        context.update({k: str(v) for k, v in values.items() if v not in (None, "")})
        if with_unsubscribe:
            context["unsubscribe_url"] = unsubscribe_url(donor_id)
        contexts[donor_id] = context
    return contexts


# ---------------------------------------------------------------- rendering

@dataclass
class Rendered:
    subject: str
    text_body: str
    html_body: str | None


@dataclass(frozen=True)
class Content:
    """What a template says, detached from the database row (bulk sends keep a copy)."""

    subject: str
    html_body: str
    text_body: str
    category: str

    @classmethod
    def of(cls, row) -> "Content":
        return cls(row.subject, row.html_body or "", row.text_body, row.category)


def render(content: Content, context: dict[str, str]) -> Rendered:
    """One message, within one budget of LIMITS. Marketing mail gets the unsubscribe footer in both versions."""
    with budget():
        subject = render_line(content.subject, context)[:300]
        text = _run(_compiled(content.text_body, False), context).strip() + "\n"
        inner = Markup(_run(_compiled(content.html_body, True), context)) if content.html_body.strip() else None
    marketing = content.category == "marketing"
    env = current_app.jinja_env
    text += env.get_template("emails/layout.txt").render(marketing=marketing, **context)
    html = None
    if inner is not None:
        html = env.get_template("emails/layout.html").render(content=inner, subject=subject, marketing=marketing, **context)
    return Rendered(subject, text, html)


def render_line(source: str, context: dict[str, str]) -> str:
    """A one-line text with tokens, such as a task title."""
    with budget():
        return " ".join(_run(_compiled(source, False), context).split())


def preview_context() -> dict[str, str]:
    """The example values, with the organisation's own name, support address and impact line."""
    return {**example_context(), **_organisation_tokens()}


def render_for_donor(content: Content, donor_id: int | None) -> Rendered:
    """Preview and test sends: a real donor's values, or the examples when no donor is chosen."""
    if donor_id is None:
        return render(content, preview_context())
    return render(content, contexts_for([donor_id])[donor_id])

