"""Workflows: triggers, conditions and delayed steps, entered from touchpoints and schedules.

Owns workflows, workflow_steps, workflow_runs, workflow_run_steps.
Offers register_step and StepContext/StepResult through engagement.services.
"""
