"""/healthz and /readyz for load balancers; the queues and jobs page for administrators."""
from flask import Blueprint, flash, jsonify, redirect, render_template, url_for

from portal.auth.access import require_staff, roles_required
from portal.ops import services

health_bp = Blueprint("health", __name__)
bp = Blueprint("ops", __name__, url_prefix="/staff/admin/jobs")
bp.before_request(require_staff)


@health_bp.route("/healthz")
def healthz():
    """The process is up and answering: no I/O, so a slow database never fails this check."""
    return jsonify(status="ok")


@health_bp.route("/readyz")
def readyz():
    """Whether this node can serve: 200 when every check passes, 503 otherwise, with each check's state."""
    checks = services.readiness()
    ready = all(check.ok for check in checks)
    body = {"status": "ready" if ready else "unavailable",
            "checks": {c.name: {"ok": c.ok, "latency_ms": c.latency_ms, "detail": c.detail} for c in checks}}
    return jsonify(body), 200 if ready else 503, {"Cache-Control": "no-store"}


@bp.route("")
@roles_required("admin")
def index():
    return render_template("ops/jobs.html", overview=services.overview())


@bp.route("/failed/<job_id>/retry", methods=["POST"])
@roles_required("admin")
def retry(job_id: str):
    if services.retry_failed(job_id):
        flash("The job is back on its queue.", "success")
    else:
        flash("That job is no longer among the failed jobs.", "info")
    return redirect(url_for("ops.index"), code=303)


@bp.route("/failed/<job_id>/delete", methods=["POST"])
@roles_required("admin")
def delete(job_id: str):
    if services.delete_failed(job_id):
        flash("The failed job was deleted.", "success")
    else:
        flash("That job is no longer among the failed jobs.", "info")
    return redirect(url_for("ops.index"), code=303)
