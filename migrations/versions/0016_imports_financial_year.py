"""imports that can run twice, supporter since, and the financial year

Revision ID: 0016_imports_financial_year
Revises: 0015_security_sessions
Create Date: 2026-12-07 14:30:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0016_imports_financial_year'
down_revision = '0015_security_sessions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_system', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('source_gift_id', sa.String(length=80), nullable=True))
        batch_op.create_index('uq_gifts_source_gift', ['source_system', 'source_gift_id'], unique=True)
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('source_system', sa.String(length=80), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('include_on_file', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index('ix_import_batches_content_hash', ['content_hash'], unique=False)
    with op.batch_alter_table('donors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supporter_since', sa.DateTime(), nullable=True))
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('financial_year_start', sa.Integer(), nullable=False, server_default='1'))


def downgrade():
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('financial_year_start')
    with op.batch_alter_table('donors', schema=None) as batch_op:
        batch_op.drop_column('supporter_since')
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_import_batches_content_hash')
        batch_op.drop_column('include_on_file')
        batch_op.drop_column('source_system')
        batch_op.drop_column('content_hash')
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.drop_index('uq_gifts_source_gift')
        batch_op.drop_column('source_gift_id')
        batch_op.drop_column('source_system')
