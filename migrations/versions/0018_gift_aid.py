"""gift aid: settings, declarations, benefits, exclusions, claims with lines and gifts, refund adjustments, monthly figures

Revision ID: 0018_gift_aid
Revises: 0017_donor_records
Create Date: 2026-12-07 14:10:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0018_gift_aid'
down_revision = '0017_donor_records'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'taxrelief_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scheme', sa.String(length=20), nullable=False),
        sa.Column('hmrc_reference', sa.String(length=20), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'gift_aid_declarations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=20), nullable=False),
        sa.Column('method', sa.String(length=10), nullable=False),
        sa.Column('wording_version', sa.String(length=20), nullable=False),
        sa.Column('wording', sa.Text(), nullable=False),
        sa.Column('made_on', sa.Date(), nullable=False),
        sa.Column('gift_id', sa.Integer(), nullable=True),
        sa.Column('confirmation_sent_at', sa.DateTime(), nullable=True),
        sa.Column('cancelled_on', sa.Date(), nullable=True),
        sa.Column('cancel_reason', sa.String(length=200), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['gift_id'], ['gifts.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_gift_aid_declarations_donor_id', 'gift_aid_declarations', ['donor_id'], unique=False)
    op.create_table(
        'gift_aid_exclusions',
        sa.Column('gift_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=20), nullable=False),
        sa.Column('noted_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['gift_id'], ['gifts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['noted_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('gift_id'),
    )
    op.create_table(
        'gift_aid_reward_values',
        sa.Column('reward_id', sa.Integer(), nullable=False),
        sa.Column('value_minor', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['reward_id'], ['loyalty_rewards.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('reward_id'),
    )
    op.create_table(
        'gift_aid_benefits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=False),
        sa.Column('received_on', sa.Date(), nullable=False),
        sa.Column('value_minor', sa.Integer(), nullable=False),
        sa.Column('description', sa.String(length=200), nullable=False),
        sa.Column('redemption_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['redemption_id'], ['loyalty_redemptions.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('redemption_id'),
    )
    op.create_index('ix_gift_aid_benefits_donor_received', 'gift_aid_benefits', ['donor_id', 'received_on'], unique=False)
    op.create_table(
        'gift_aid_claims',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('part', sa.Integer(), nullable=False),
        sa.Column('parts', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('line_count', sa.Integer(), nullable=False),
        sa.Column('gift_count', sa.Integer(), nullable=False),
        sa.Column('total_minor', sa.Integer(), nullable=False),
        sa.Column('tax_minor', sa.Integer(), nullable=False),
        sa.Column('adjustment_minor', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('submitted_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_gift_aid_claims_status', 'gift_aid_claims', ['status'], unique=False)
    op.create_table(
        'gift_aid_claim_gifts',
        sa.Column('gift_id', sa.Integer(), nullable=False),
        sa.Column('claim_id', sa.Integer(), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['claim_id'], ['gift_aid_claims.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['gift_id'], ['gifts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('gift_id'),
    )
    op.create_index('ix_gift_aid_claim_gifts_claim_line', 'gift_aid_claim_gifts', ['claim_id', 'line_no'], unique=False)
    op.create_table(
        'gift_aid_claim_lines',
        sa.Column('claim_id', sa.Integer(), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=True),
        sa.Column('title', sa.String(length=4), nullable=False),
        sa.Column('first_name', sa.String(length=35), nullable=False),
        sa.Column('last_name', sa.String(length=35), nullable=False),
        sa.Column('house', sa.String(length=40), nullable=False),
        sa.Column('postcode', sa.String(length=8), nullable=False),
        sa.Column('aggregated', sa.String(length=35), nullable=False),
        sa.Column('sponsored', sa.Boolean(), nullable=False),
        sa.Column('donation_date', sa.Date(), nullable=False),
        sa.Column('amount_minor', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['claim_id'], ['gift_aid_claims.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('claim_id', 'line_no'),
    )
    op.create_table(
        'gift_aid_adjustments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('gift_id', sa.Integer(), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=False),
        sa.Column('claim_id', sa.Integer(), nullable=True),
        sa.Column('amount_minor', sa.Integer(), nullable=False),
        sa.Column('tax_minor', sa.Integer(), nullable=False),
        sa.Column('settled_by_claim_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['claim_id'], ['gift_aid_claims.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['gift_id'], ['gifts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['settled_by_claim_id'], ['gift_aid_claims.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('gift_id'),
    )
    op.create_index('ix_gift_aid_adjustments_donor_id', 'gift_aid_adjustments', ['donor_id'], unique=False)
    op.create_index('ix_gift_aid_adjustments_settled_by_claim_id', 'gift_aid_adjustments', ['settled_by_claim_id'],
                    unique=False)
    op.create_table(
        'gift_aid_month_figures',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('claimed_minor', sa.Integer(), nullable=False),
        sa.Column('unclaimed_minor', sa.Integer(), nullable=False),
        sa.Column('computed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('month'),
    )


def downgrade():
    op.drop_table('gift_aid_month_figures')
    op.drop_table('gift_aid_adjustments')
    op.drop_table('gift_aid_claim_lines')
    op.drop_table('gift_aid_claim_gifts')
    op.drop_table('gift_aid_claims')
    op.drop_table('gift_aid_benefits')
    op.drop_table('gift_aid_reward_values')
    op.drop_table('gift_aid_exclusions')
    op.drop_table('gift_aid_declarations')
    op.drop_table('taxrelief_settings')
