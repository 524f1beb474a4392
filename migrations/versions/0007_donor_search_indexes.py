"""donor search indexes: covering indexes for search as you type and the tag filter, rollup filters by regular giving

Revision ID: 0007_donor_search_indexes
Revises: 0001_foundation
Create Date: 2026-11-22 22:45:26.739949

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007_donor_search_indexes'
down_revision = "0006_feedback_retention"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('donor_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_donor_tags_tag_id'))
        batch_op.create_index('ix_donor_tags_tag_id', ['tag_id', 'donor_id'], unique=False)

    with op.batch_alter_table('donor_stats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_donor_stats_has_active_plan'))
        batch_op.create_index('ix_donor_stats_plan_last_gift', ['has_active_plan', 'last_gift_at'], unique=False)
        batch_op.create_index('ix_donor_stats_plan_lifetime', ['has_active_plan', 'lifetime_minor'], unique=False)

    with op.batch_alter_table('donors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_donors_first_key'))
        batch_op.create_index('ix_donors_first_key', ['first_key', 'name_key', 'id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_donors_name_key'))
        batch_op.create_index('ix_donors_name_key', ['name_key', 'id'], unique=False)
        batch_op.create_index('ix_donors_email_name_key', ['email', 'name_key', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('donors', schema=None) as batch_op:
        batch_op.drop_index('ix_donors_email_name_key')
        batch_op.drop_index('ix_donors_name_key')
        batch_op.create_index(batch_op.f('ix_donors_name_key'), ['name_key'], unique=False)
        batch_op.drop_index('ix_donors_first_key')
        batch_op.create_index(batch_op.f('ix_donors_first_key'), ['first_key'], unique=False)

    with op.batch_alter_table('donor_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_donor_stats_plan_lifetime')
        batch_op.drop_index('ix_donor_stats_plan_last_gift')
        batch_op.create_index(batch_op.f('ix_donor_stats_has_active_plan'), ['has_active_plan'], unique=False)

    with op.batch_alter_table('donor_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_donor_tags_tag_id')
        batch_op.create_index(batch_op.f('ix_donor_tags_tag_id'), ['tag_id'], unique=False)
