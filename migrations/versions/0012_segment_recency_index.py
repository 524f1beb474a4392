"""segment recency index: donor_stats (last_gift_at, lifetime_minor, donor_id) replaces the last_gift_at index

Revision ID: 0012_segment_recency_index
Revises: 0011_survey_comment_flag
Create Date: 2026-11-23 01:55:00

"""
from alembic import op


revision = '0012_segment_recency_index'
down_revision = '0011_survey_comment_flag'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('donor_stats', schema=None) as batch_op:
        batch_op.create_index('ix_donor_stats_last_gift_value', ['last_gift_at', 'lifetime_minor', 'donor_id'], unique=False)
        batch_op.drop_index('ix_donor_stats_last_gift_at')


def downgrade():
    with op.batch_alter_table('donor_stats', schema=None) as batch_op:
        batch_op.create_index('ix_donor_stats_last_gift_at', ['last_gift_at'], unique=False)
        batch_op.drop_index('ix_donor_stats_last_gift_value')
