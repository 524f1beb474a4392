"""The shipped email templates, ready-made segments and workflows (`flask engagement seed`).

Seeding only adds what is missing (matched by key), so staff edits survive a second run.
"""
from __future__ import annotations

from sqlalchemy import select

from portal.engagement.segments import services as segments
from portal.engagement.templates import rendering as templating
from portal.engagement.models import EmailTemplate, Workflow, WorkflowStep
from portal.extensions import db

BUTTON = ('style="display:inline-block;background:#0e6e6a;color:#ffffff;text-decoration:none;font-weight:600;'
          'padding:10px 18px;border-radius:6px;"')

TEMPLATES = [
    {
        "key": "welcome", "name": "Welcome", "category": "transactional",
        "description": "Sent the day someone becomes a supporter: what to expect and where their account is.",
        "subject": "Welcome to {{ organisation_name }}, {{ first_name }}",
        "html_body": f"""<p>Dear {{{{ first_name }}}},</p>
<p>Thank you for joining {{{{ organisation_name }}}}. We are really glad you are here.</p>
{{% if impact_line %}}<p><strong>{{{{ impact_line }}}}</strong></p>{{% endif %}}
<p>Your supporter account is where you can see your gifts, download receipts, keep your details up to date and choose what we send you.</p>
<p><a href="{{{{ portal_url }}}}" {BUTTON}>Open your account</a></p>
<p>If you ever have a question, write to {{{{ support_email }}}}. A real person reads every message.</p>
<p>With warm thanks,<br>Everyone at {{{{ organisation_name }}}}</p>""",
        "text_body": """Dear {{ first_name }},

Thank you for joining {{ organisation_name }}. We are really glad you are here.
{% if impact_line %}
{{ impact_line }}
{% endif %}
Your supporter account is where you can see your gifts, download receipts, keep your details up to date and choose what we send you:
{{ portal_url }}

If you ever have a question, write to {{ support_email }}. A real person reads every message.

With warm thanks,
Everyone at {{ organisation_name }}""",
    },
    {
        "key": "welcome_impact", "name": "Welcome: one week on", "category": "marketing",
        "description": "The second email of the welcome series: the difference supporters make.",
        "subject": "What your support makes possible, {{ first_name }}",
        "html_body": f"""<p>Dear {{{{ first_name }}}},</p>
<p>A week ago you joined {{{{ organisation_name }}}}, and we wanted to show you where support like yours goes.</p>
{{% if impact_line %}}<p><strong>{{{{ impact_line }}}}</strong></p>{{% endif %}}
{{% if interests != "our work" %}}<p>You told us you care about {{{{ interests }}}}. We will keep you posted on exactly that, and nothing you did not ask for.</p>{{% endif %}}
<p>Every update, every receipt and every choice about what we send you is in your account.</p>
<p><a href="{{{{ portal_url }}}}" {BUTTON}>See your account</a></p>
<p>Thank you for being part of this,<br>Everyone at {{{{ organisation_name }}}}</p>""",
        "text_body": """Dear {{ first_name }},

A week ago you joined {{ organisation_name }}, and we wanted to show you where support like yours goes.
{% if impact_line %}
{{ impact_line }}
{% endif %}{% if interests != "our work" %}
You told us you care about {{ interests }}. We will keep you posted on exactly that, and nothing you did not ask for.
{% endif %}
Every update, every receipt and every choice about what we send you is in your account:
{{ portal_url }}

Thank you for being part of this,
Everyone at {{ organisation_name }}""",
    },
    {
        "key": "thank_you", "name": "Thank you for your gift", "category": "transactional",
        "description": "Sent as soon as a gift is recorded.",
        "subject": "Thank you for your gift, {{ first_name }}",
        "html_body": f"""<p>Dear {{{{ first_name }}}},</p>
<p>Thank you{{% if last_gift_amount %}} for your gift of <strong>{{{{ last_gift_amount }}}}</strong>{{% endif %}}{{% if last_gift_fund != "our work" %}} to {{{{ last_gift_fund }}}}{{% endif %}}. It has arrived safely and it is already at work.</p>
{{% if gift_count != "1" and gift_count != "0" %}}<p>Altogether you have now given {{{{ lifetime_total }}}} across {{{{ gift_count }}}} gifts. That kind of loyalty is what lets us plan ahead, and we do not take it for granted.</p>{{% endif %}}
<p>Your receipt is waiting in your account whenever you need it.</p>
<p><a href="{{{{ portal_url }}}}" {BUTTON}>View your receipt</a></p>
<p>With heartfelt thanks,<br>Everyone at {{{{ organisation_name }}}}</p>""",
        "text_body": """Dear {{ first_name }},

Thank you{% if last_gift_amount %} for your gift of {{ last_gift_amount }}{% endif %}{% if last_gift_fund != "our work" %} to {{ last_gift_fund }}{% endif %}. It has arrived safely and it is already at work.
{% if gift_count != "1" and gift_count != "0" %}
Altogether you have now given {{ lifetime_total }} across {{ gift_count }} gifts. That kind of loyalty is what lets us plan ahead, and we do not take it for granted.
{% endif %}
Your receipt is waiting in your account whenever you need it:
{{ portal_url }}

With heartfelt thanks,
Everyone at {{ organisation_name }}""",
    },
    {
        "key": "gift_follow_up", "name": "Here is what your gift did", "category": "marketing",
        "description": "A week after a gift: the difference it made.",
        "subject": "Here is what your gift did, {{ first_name }}",
        "html_body": f"""<p>Dear {{{{ first_name }}}},</p>
<p>Last week you gave{{% if last_gift_amount %}} {{{{ last_gift_amount }}}}{{% endif %}} to {{{{ last_gift_fund }}}}. We promised to tell you what happened next.</p>
{{% if impact_line %}}<p><strong>{{{{ impact_line }}}}</strong></p>{{% endif %}}
<p>Gifts like yours arrive on the same week as the bills, the repairs and the training sessions, and they are the reason none of those have to wait.</p>
<p>If you would like to hear more, your account shows every gift and where it went.</p>
<p><a href="{{{{ portal_url }}}}" {BUTTON}>See your giving</a></p>
<p>Thank you again,<br>Everyone at {{{{ organisation_name }}}}</p>""",
        "text_body": """Dear {{ first_name }},

Last week you gave{% if last_gift_amount %} {{ last_gift_amount }}{% endif %} to {{ last_gift_fund }}. We promised to tell you what happened next.
{% if impact_line %}
{{ impact_line }}
{% endif %}
Gifts like yours arrive on the same week as the bills, the repairs and the training sessions, and they are the reason none of those have to wait.

If you would like to hear more, your account shows every gift and where it went:
{{ portal_url }}

Thank you again,
Everyone at {{ organisation_name }}""",
    },
    {
        "key": "we_miss_you", "name": "We miss you", "category": "marketing",
        "description": "For supporters we have not heard from in a long while.",
        "subject": "We miss you, {{ first_name }}",
        "html_body": f"""<p>Dear {{{{ first_name }}}},</p>
<p>It has been a while since we last heard from you, and we wanted to say: we have not forgotten{{% if last_gift_date %}} your support, the last time on {{{{ last_gift_date }}}}{{% endif %}}.</p>
<p>A lot has happened since. {{{{ impact_line }}}}</p>
<p>If you would like to catch up, your account has the latest, and you can tell us what you would like to hear about (or that you would rather hear less).</p>
<p><a href="{{{{ portal_url }}}}" {BUTTON}>Catch up with us</a></p>
<p>Whatever you decide, thank you for everything you have done.<br>Everyone at {{{{ organisation_name }}}}</p>""",
        "text_body": """Dear {{ first_name }},

It has been a while since we last heard from you, and we wanted to say: we have not forgotten{% if last_gift_date %} your support, the last time on {{ last_gift_date }}{% endif %}.

A lot has happened since. {{ impact_line }}

If you would like to catch up, your account has the latest, and you can tell us what you would like to hear about (or that you would rather hear less):
{{ portal_url }}

Whatever you decide, thank you for everything you have done.
Everyone at {{ organisation_name }}""",
    },
    {
        "key": "loyal_offer", "name": "Loyal supporter appreciation", "category": "marketing",
        "description": "For donors who give year after year: a thank-you and an invitation behind the scenes.",
        "subject": "{{ first_name }}, a thank-you for your loyalty",
        "html_body": f"""<p>Dear {{{{ first_name }}}},</p>
<p>You have given {{{{ gift_count }}}} times, {{{{ lifetime_total }}}} in all. Very few people stay with a cause the way you have, and we want to thank you properly.</p>
<p>As one of our most loyal supporters, you are invited to a behind-the-scenes visit: meet the people your gifts support and see the work up close. Reply to this email or write to {{{{ support_email }}}} and we will find a date that suits you.</p>
{{% if tier %}}<p>You are a <strong>{{{{ tier }}}}</strong> supporter with {{{{ points_balance }}}} points to spend on rewards in your account.</p>{{% endif %}}
<p><a href="{{{{ portal_url }}}}" {BUTTON}>Visit your account</a></p>
<p>With real gratitude,<br>Everyone at {{{{ organisation_name }}}}</p>""",
        "text_body": """Dear {{ first_name }},

You have given {{ gift_count }} times, {{ lifetime_total }} in all. Very few people stay with a cause the way you have, and we want to thank you properly.

As one of our most loyal supporters, you are invited to a behind-the-scenes visit: meet the people your gifts support and see the work up close. Reply to this email or write to {{ support_email }} and we will find a date that suits you.
{% if tier %}
You are a {{ tier }} supporter with {{ points_balance }} points to spend on rewards in your account.
{% endif %}
{{ portal_url }}

With real gratitude,
Everyone at {{ organisation_name }}""",
    },
    {
        "key": "birthday", "name": "Happy birthday", "category": "marketing",
        "description": "On the donor's birthday.",
        "subject": "Happy birthday, {{ first_name }}!",
        "html_body": """<p>Dear {{ first_name }},</p>
<p>Everyone here wanted to wish you a very happy birthday.</p>
<p>Thank you for being part of {{ organisation_name }}. We hope your day is full of the people and things you love.</p>
<p>Warmest wishes,<br>Everyone at {{ organisation_name }}</p>""",
        "text_body": """Dear {{ first_name }},

Everyone here wanted to wish you a very happy birthday.

Thank you for being part of {{ organisation_name }}. We hope your day is full of the people and things you love.

Warmest wishes,
Everyone at {{ organisation_name }}""",
    },
    {
        "key": "renewal_check_in", "name": "Renewal check-in", "category": "transactional",
        "description": "A month before a sponsorship or membership renews.",
        "subject": "Your sponsorship renews{% if renewal_date %} on {{ renewal_date }}{% endif %}",
        "html_body": f"""<p>Dear {{{{ first_name }}}},</p>
<p>Your sponsorship{{% if sponsorship %}} ({{{{ sponsorship }}}}){{% endif %}} renews{{% if renewal_date %}} on <strong>{{{{ renewal_date }}}}</strong>{{% endif %}}. There is nothing you need to do: it will carry on just as it is.</p>
<p>If anything has changed for you, you can review it, change the amount or pause it in your account. Someone from our team may also call to say thank you and answer any questions.</p>
<p><a href="{{{{ portal_url }}}}" {BUTTON}>Review your sponsorship</a></p>
<p>Thank you for standing with us for another year,<br>Everyone at {{{{ organisation_name }}}}</p>""",
        "text_body": """Dear {{ first_name }},

Your sponsorship{% if sponsorship %} ({{ sponsorship }}){% endif %} renews{% if renewal_date %} on {{ renewal_date }}{% endif %}. There is nothing you need to do: it will carry on just as it is.

If anything has changed for you, you can review it, change the amount or pause it in your account:
{{ portal_url }}

Someone from our team may also call to say thank you and answer any questions.

Thank you for standing with us for another year,
Everyone at {{ organisation_name }}""",
    },
    {
        "key": "sponsorship_ending", "name": "Sponsorship or regular gift ending", "category": "transactional",
        "description": "When a sponsorship, membership or regular gift ends: thanks, and the door left open.",
        "subject": "Thank you for everything, {{ first_name }}",
        "html_body": f"""<p>Dear {{{{ first_name }}}},</p>
<p>We have stopped your regular giving as you asked. Nothing more will be taken.</p>
<p>Thank you for all you gave{{% if lifetime_total %}}: {{{{ lifetime_total }}}} in all{{% endif %}}. It did real good, and it will go on doing good long after today.</p>
<p>Your account stays open, with your gift history and receipts. If you ever want to start again, at any amount, it takes a minute.</p>
<p><a href="{{{{ portal_url }}}}" {BUTTON}>Your account</a></p>
<p>With our thanks,<br>Everyone at {{{{ organisation_name }}}}</p>""",
        "text_body": """Dear {{ first_name }},

We have stopped your regular giving as you asked. Nothing more will be taken.

Thank you for all you gave{% if lifetime_total %}: {{ lifetime_total }} in all{% endif %}. It did real good, and it will go on doing good long after today.

Your account stays open, with your gift history and receipts. If you ever want to start again, at any amount, it takes a minute:
{{ portal_url }}

With our thanks,
Everyone at {{ organisation_name }}""",
    },
]

# (key, name, description, trigger, trigger_days, segment key, re-entry days, enabled in the demo, steps)
WORKFLOWS = [
    ("welcome_series", "Welcome series", "A warm welcome the day someone joins, and a first look at their impact a week later.",
     "donor_created", None, None, None, True,
     [(0, "send_email", {"template": "welcome"}), (7, "send_email", {"template": "welcome_impact"})]),
    ("thank_you", "Thank you and follow-up", "Thanks for every gift at once; seven days later, what the gift did.",
     "gift_received", None, None, None, True,
     [(0, "send_email", {"template": "thank_you"}), (7, "send_email", {"template": "gift_follow_up"})]),
    ("re_engagement", "We miss you", "Supporters with no gift, reply, visit or click for 180 days.",
     "inactive", 180, None, None, True,
     [(0, "send_email", {"template": "we_miss_you"})]),
    ("loyal_offer", "Loyal donor appreciation", "Two days after a gift from a loyal donor: thanks and an invitation. Once a year at most.",
     "gift_received", None, "loyal", 365, True,
     [(2, "send_email", {"template": "loyal_offer"})]),
    ("birthday", "Birthday wishes", "A short note on the donor's birthday.",
     "birthday", None, None, None, True,
     [(0, "send_email", {"template": "birthday"})]),
    ("renewal_check_in", "Sponsorship renewal check-in", "A month before a sponsorship renews: an email, and a call from the team.",
     "renewal_due", 30, None, None, True,
     [(0, "send_email", {"template": "renewal_check_in"}),
      (0, "create_task", {"title": "Call {{ full_name }} before their sponsorship renews on {{ renewal_date }}",
                          "role": "fundraiser", "due_days": 14})]),
    ("regular_giving_ended", "Regular giving ended", "When a sponsorship or regular gift is cancelled: thanks, and the door left open.",
     "plan_cancelled", None, None, None, False,
     [(0, "send_email", {"template": "sponsorship_ending"})]),
]


def seed(*, enable_workflows: bool = False) -> dict[str, int]:
    """Add missing templates, ready-made segments and workflows; returns how many of each were added."""
    counts = {"templates": 0, "segments": segments.seed_ready_made(), "workflows": 0}
    existing = {t.key: t for t in db.session.scalars(select(EmailTemplate).where(EmailTemplate.key.is_not(None)))}
    for spec in TEMPLATES:
        if spec["key"] in existing:
            continue
        problems = templating.check(spec["subject"], spec["html_body"], spec["text_body"])
        if problems:
            raise ValueError(f"shipped template {spec['key']} is broken: {problems}")
        existing[spec["key"]] = EmailTemplate(**spec)
        db.session.add(existing[spec["key"]])
        counts["templates"] += 1
    db.session.flush()
    present = set(db.session.scalars(select(Workflow.key).where(Workflow.key.is_not(None))))
    for key, name, description, trigger, days, segment_key, reentry, enabled, steps in WORKFLOWS:
        if key in present:
            continue
        segment = segments.segment_by_key(segment_key) if segment_key else None
        workflow = Workflow(key=key, name=name, description=description, trigger=trigger, trigger_days=days,
                            segment_id=segment.id if segment else None, reentry_days=reentry,
                            enabled=enabled and enable_workflows)
        for position, (delay, kind, config) in enumerate(steps, start=1):
            config = dict(config)
            if "template" in config:
                config = {"template_id": existing[config.pop("template")].id, **config}
            workflow.steps.append(WorkflowStep(position=position, delay_days=delay, kind=kind, config=config))
        db.session.add(workflow)
        counts["workflows"] += 1
    db.session.commit()
    return counts
