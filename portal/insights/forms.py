from flask_wtf import FlaskForm


class RefreshForm(FlaskForm):
    """Recalculate a report now: the form carries only the CSRF token; the filters ride in the query string."""


class SegmentFromListForm(FlaskForm):
    """Save a drop-off list as a segment: only the CSRF token; the list's filters ride in the query string."""
