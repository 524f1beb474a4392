"""import: likely duplicates and erased donors' addresses, each imported only when staff say so

Revision ID: 0020_import_duplicates
Revises: 0019_import_extras
Create Date: 2026-12-07 15:40:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0020_import_duplicates'
down_revision = '0019_import_extras'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('include_duplicates', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('include_erased', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.drop_column('include_erased')
        batch_op.drop_column('include_duplicates')
