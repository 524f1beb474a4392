"""Who might stop giving, and why: the public API other domains, the views and the jobs call.

The work lives by concept in signals.py (the signals and the admin-set levels), scoring.py (the risk score
and the alert raised on a crossing), alerts.py, managers.py (relationship managers) and check_ins.py.
"""
from portal.retention.alerts import (ALERT_SORTS, AlertPage, AlertRow, DonorRisk, alert_counts, alert_list, alerts_for_donor,
                                     dismiss_alert, donor_risk, get_alert, raise_ticket_alerts, resolve_alert)
from portal.retention.check_ins import CHECK_INS_PER_DAY, Due, get_check_in, recent_check_ins, run_check_ins
from portal.retention.managers import manager_of, set_manager, set_manager_many
from portal.retention.models import RiskScore
from portal.retention.scoring import (Reason, Recompute, reactor_kinds, reasons, recompute_all, recompute_donor,
                                      rescore_on_touchpoint)
from portal.retention.signals import (BOUNCE_DAYS, NOT_CONTACT, RENEWING_PLAN_KINDS, SETTING_RANGES, SIGNALS, TEAMS,
                                      RetentionError, Signal, settings, update_settings)

__all__ = [
    "ALERT_SORTS", "AlertPage", "AlertRow", "DonorRisk", "alert_counts", "alert_list", "alerts_for_donor", "dismiss_alert",
    "donor_risk", "get_alert", "raise_ticket_alerts", "resolve_alert",
    "CHECK_INS_PER_DAY", "Due", "get_check_in", "recent_check_ins", "run_check_ins",
    "manager_of", "set_manager", "set_manager_many",
    "RiskScore",
    "Reason", "Recompute", "reactor_kinds", "reasons", "recompute_all", "recompute_donor", "rescore_on_touchpoint",
    "BOUNCE_DAYS", "NOT_CONTACT", "RENEWING_PLAN_KINDS", "SETTING_RANGES", "SIGNALS", "TEAMS", "RetentionError", "Signal",
    "settings", "update_settings",
]
