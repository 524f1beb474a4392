from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.kb.models import AUDIENCES


class ArticleForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired("Give the article a title."), Length(max=200)],
                        description="The question or task in the donor's words, e.g. “How to update your card details”.")
    slug = StringField("Address", validators=[Optional(), Length(max=120),
                                              Regexp(r"^[a-z0-9-]*$", message="Use lower-case letters, numbers and hyphens.")],
                       description="Part of the link, e.g. update-card-details. Left empty, it is made from the title.")
    summary = StringField("Summary", validators=[Optional(), Length(max=300)],
                          description="One sentence shown under the title in lists. Left empty, the first paragraph is used.")
    tags = StringField("Tags", validators=[Optional(), Length(max=400)],
                       description="Separated with commas. The first tag is the topic suggestions look for (e.g. receipts, renewals).")
    audience = SelectField("Who it is for", choices=dict(AUDIENCES), default="both")
    related = StringField("Related articles", validators=[Optional(), Length(max=600)],
                          description="Addresses of related articles, separated with commas.")
    body_md = TextAreaField("Text (Markdown)", validators=[DataRequired("Write the article's text."), Length(max=100_000)],
                            description="## for headings, 1. for steps, **bold** for buttons, [text](address) for links.")
    published = BooleanField("Published")


class VoteForm(FlaskForm):
    helpful = SelectField("Was this helpful?", choices={"yes": "Yes", "no": "No"},
                          validators=[DataRequired("Choose yes or no.")])
    source = HiddenField()


class PreviewForm(FlaskForm):
    body_md = TextAreaField(validators=[Length(max=100_000)])


class PublishForm(FlaskForm):
    pass
