"""Email delivery: the outbox and its crash-safe delivery jobs, bulk sends, open/click tracking, the mail log.

Owns email_messages, bulk_sends and engagement_settings (the sending rules).
Offers queue_email through engagement.services.
"""
