"""insights: reporting indexes on gifts lead with the status instead of being partial, so SQLite reads them alone

Revision ID: 0010_insights_gift_indexes
Revises: 0009_insights
Create Date: 2026-11-23 01:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_insights_gift_indexes'
down_revision = '0009_insights'
branch_labels = None
depends_on = None

RECEIVED_ONLY = sa.text("status = 'received'")


def upgrade():
    op.drop_index('ix_gifts_received_donor', table_name='gifts')
    op.drop_index('ix_gifts_received_time', table_name='gifts')
    op.create_index('ix_gifts_status_donor', 'gifts', ['status', 'donor_id', 'received_at', 'amount_minor'], unique=False)
    op.create_index('ix_gifts_status_time', 'gifts', ['status', 'received_at', 'donor_id', 'amount_minor'], unique=False)


def downgrade():
    op.drop_index('ix_gifts_status_time', table_name='gifts')
    op.drop_index('ix_gifts_status_donor', table_name='gifts')
    op.create_index('ix_gifts_received_time', 'gifts', ['received_at', 'donor_id', 'amount_minor'], unique=False,
                    sqlite_where=RECEIVED_ONLY, postgresql_where=RECEIVED_ONLY)
    op.create_index('ix_gifts_received_donor', 'gifts', ['donor_id', 'received_at', 'amount_minor'], unique=False,
                    sqlite_where=RECEIVED_ONLY, postgresql_where=RECEIVED_ONLY)
