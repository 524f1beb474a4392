"""The back-office home."""
from flask import Blueprint, render_template

from portal.auth.access import require_staff
from portal.donors.services import headline_numbers
from portal.timeutil import utcnow

bp = Blueprint("staff", __name__, url_prefix="/staff")
bp.before_request(require_staff)


@bp.route("/")
def home():
    return render_template("staff/home.html", numbers=headline_numbers(), now=utcnow())
