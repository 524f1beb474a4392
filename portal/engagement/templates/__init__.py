"""Email templates: sandboxed Jinja rendering with tokens, and the template pages.

Owns email_templates.
Offers declare_token, register_token_provider, contexts_for and render_line.
"""
