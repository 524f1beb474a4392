"""Audit trail: owns `audit_events`, the append-only record of staff actions that matter.

Offers `services.record()`, which other domains call inside the transaction of the change it records,
and `services.events_for()` to read the trail back."""
