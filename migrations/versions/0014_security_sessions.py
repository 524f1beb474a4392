"""security: sealed account-email links, revocable sessions, two-factor sign-in

Revision ID: 0014_security_sessions
Revises: 0014_audit_log
Create Date: 2026-12-07 14:40:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0014_security_sessions'
down_revision = '0014_audit_log'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_link', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.drop_column('sealed_link')
