"""Tickets and staff tasks: the shared services the portal, workflows, surveys and risk alerts call.

The work lives by concept in inbox.py (staff tasks), tickets.py and service_levels.py (settings and the
targets tickets are held to); this module is the API the views and other domains import.
"""
from portal.support.inbox import (TASK_OUTCOMES, TASK_VIEWS, TaskPage, add_task, assign_task, assignable_staff,
                                  close_task, comment_on_task, complete_task, create_task, create_tasks,
                                  describe_source, get_task, open_task_counts, page_of, register_source,
                                  renewal_task_due, renewal_task_key, reopen_task, source_label, staff_user, task_inbox,
                                  tasks_for_donor, team_roles)
from portal.support.service_levels import (Breach, SupportError, Timer, settings, sla_breaches, sla_timers,
                                           troubled_ticket_donors, update_settings)
from portal.support.tickets import (REPLY_NEXT_STATUS, TICKET_STATUS_FILTERS, TicketFilter, TicketPage, add_donor_reply,
                                    add_internal_note, assign_ticket, change_ticket_status, get_ticket, open_ticket,
                                    staff_reply, ticket_counts, ticket_queue, tickets_for_donor)

__all__ = [
    "TASK_OUTCOMES", "TASK_VIEWS", "TaskPage", "add_task", "assign_task", "assignable_staff", "close_task",
    "comment_on_task", "complete_task", "create_task", "create_tasks", "describe_source", "get_task",
    "open_task_counts", "page_of", "register_source", "renewal_task_due", "renewal_task_key", "reopen_task",
    "source_label", "staff_user", "task_inbox", "tasks_for_donor", "team_roles",
    "Breach", "SupportError", "Timer", "settings", "sla_breaches", "sla_timers", "troubled_ticket_donors",
    "update_settings",
    "REPLY_NEXT_STATUS", "TICKET_STATUS_FILTERS", "TicketFilter", "TicketPage", "add_donor_reply",
    "add_internal_note", "assign_ticket", "change_ticket_status", "get_ticket", "open_ticket", "staff_reply",
    "ticket_counts", "ticket_queue", "tickets_for_donor",
]
