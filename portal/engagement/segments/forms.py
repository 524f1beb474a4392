from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Optional


class SegmentForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Give the segment a name."), Length(max=120)])
    description = StringField("Description", validators=[Optional(), Length(max=300)],
                              description="What the segment is for, so colleagues know when to use it")
