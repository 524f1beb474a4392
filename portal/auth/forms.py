from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from portal.forms import choices
from portal.auth.models import ROLE_LABELS, STAFF_ROLES


class LoginForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter your email address."), Email("Enter a valid email address.")])
    password = PasswordField("Password", validators=[DataRequired("Enter your password.")])
    remember = BooleanField("Keep me signed in on this device")


class StaffUserForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired("Enter a name."), Length(max=120)])
    email = EmailField("Email address", validators=[DataRequired("Enter an email address."), Email("Enter a valid email address.")])
    role = SelectField("Role", choices=choices((r, ROLE_LABELS[r]) for r in STAFF_ROLES))
    password = PasswordField("Initial password", validators=[DataRequired("Set an initial password."), Length(min=10, message="Use at least 10 characters.")])


class EditStaffUserForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired("Enter a name."), Length(max=120)])
    role = SelectField("Role", choices=choices((r, ROLE_LABELS[r]) for r in STAFF_ROLES))
    active = BooleanField("Account active")
    password = PasswordField("New password (leave blank to keep)", validators=[Optional(), Length(min=10, message="Use at least 10 characters.")])


class EmailForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter your email address."), Email("Enter a valid email address.")])


class NewPasswordForm(FlaskForm):
    password = PasswordField("Choose a password", validators=[DataRequired("Choose a password."), Length(min=10, message="Use at least 10 characters.")],
                             description="At least 10 characters. A short sentence is easy to remember and hard to guess.")
    confirm = PasswordField("Type it again", validators=[DataRequired("Type the password again."), EqualTo("password", "The two passwords don't match.")])


class TwoFactorCodeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired("Type the code from your authenticator app."), Length(max=20)])


class TwoFactorSignInForm(TwoFactorCodeForm):
    remember_device = BooleanField("Don't ask again on this device for 30 days")
