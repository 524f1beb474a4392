"""Segments: trees of conditions over donor fields, compiled to one SQL query; views for the builder.

Owns segments.
Offers register_field and members_select through engagement.services.
"""
