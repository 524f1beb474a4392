"""email sent index: email_messages (sent_at, status) for counts of recent sends (home tile, engagement report)

Revision ID: 0013_email_sent_index
Revises: 0012_segment_recency_index
Create Date: 2026-11-23 05:05:00

"""
from alembic import op


revision = '0013_email_sent_index'
down_revision = '0012_segment_recency_index'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.create_index('ix_email_messages_sent', ['sent_at', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_email_messages_sent')
