"""audit log: audit_events, the append-only trail of staff actions

Revision ID: 0014_audit_log
Revises: 0013_email_sent_index
Create Date: 2026-12-07 14:20:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0014_audit_log'
down_revision = '0013_email_sent_index'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('action', sa.String(length=60), nullable=False),
        sa.Column('actor_user_id', sa.Integer(), nullable=True),
        sa.Column('actor_label', sa.String(length=254), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=True),
        sa.Column('summary', sa.String(length=300), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.Column('ip_address', sa.String(length=45), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_time', ['occurred_at'], unique=False)
        batch_op.create_index('ix_audit_events_action_time', ['action', 'occurred_at'], unique=False)
        batch_op.create_index('ix_audit_events_actor_time', ['actor_user_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_audit_events_donor_time', ['donor_id', 'occurred_at'], unique=False)


def downgrade():
    op.drop_table('audit_events')
