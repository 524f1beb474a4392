"""imports: what a batch will record beside its rows (such as Gift Aid declarations), counted at the check

Revision ID: 0019_import_extras
Revises: 0018_gift_aid
Create Date: 2026-12-07 15:40:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0019_import_extras'
down_revision = '0018_gift_aid'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extra_counts', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.drop_column('extra_counts')
