from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.engagement.workflows.triggers import TRIGGERS


class WorkflowForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Give the workflow a name."), Length(max=120)])
    description = StringField("Description", validators=[Optional(), Length(max=300)])
    trigger = SelectField("Starts when", choices={key: t.label.replace("…", "N") for key, t in TRIGGERS.items()})
    trigger_days = IntegerField("Number of days (N)", validators=[Optional(), NumberRange(1, 3650, "Between 1 and 3,650 days.")],
                                description="For triggers that count days")
    segment_id = SelectField("Only for donors in", coerce=lambda v: int(v) if v not in (None, "", "None") else None,
                             description="Checked when the donor enters")
    reentry_days = IntegerField("Not again within (days)", validators=[Optional(), NumberRange(1, 3650, "Between 1 and 3,650 days.")],
                                description="Leave empty to let each gift, birthday or renewal start it once")
    conversion_days = IntegerField("Count a gift within (days) as a conversion", default=30,
                                   validators=[InputRequired("Enter a number of days."), NumberRange(1, 365, "Between 1 and 365 days.")])
