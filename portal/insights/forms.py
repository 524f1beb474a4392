from flask_wtf import FlaskForm


class RefreshForm(FlaskForm):
    """Recalculate a report now: the form carries only the CSRF token; the filters ride in the query string."""
