"""Administrators: search the audit trail and export it."""
from datetime import datetime

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_login import current_user

from portal import csvfile
from portal.audit import services
from portal.auth.access import require_staff, roles_required
from portal.htmx import render
from portal.params import page_number

bp = Blueprint("audit", __name__, url_prefix="/staff/admin/audit")
bp.before_request(require_staff)


@bp.route("/")
@roles_required("admin")
def index():
    filters = services.parse_filters(request.args)
    result = None if filters.errors else services.search(filters, page=request.args.get("page", 1, type=page_number))
    return render("audit/index.html", block="results", filters=filters, result=result, actions=services.actions(),
                  read_log_days=services.read_log_days()), (400 if filters.errors else 200)


@bp.route("/export.csv")
@roles_required("admin")
def export():
    filters = services.parse_filters(request.args)
    if filters.errors:
        return render_template("audit/index.html", filters=filters, result=None, actions=services.actions(),
                               read_log_days=services.read_log_days()), 400
    services.record_export("audit.export", "the audit log", services.count(filters), actor=current_user,
                           detail={"filters": request.args.to_dict()})

    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return Response(stream_with_context(csvfile.stream(services.export_rows(filters))), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'})
