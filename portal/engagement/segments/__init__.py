"""Segments: trees of conditions over donor fields, compiled to one SQL query; the pages with the condition builder.

Owns segments.
Offers register_field and members_select through engagement.services.
"""
