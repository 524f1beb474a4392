"""donor records: duplicate matching key and review queue, merge redirects, erasure, data exports, retention

Revision ID: 0017_donor_records
Revises: 0016_imports_financial_year
Create Date: 2026-12-07 15:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0017_donor_records'
down_revision = '0016_imports_financial_year'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('donors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('match_key', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_donors_match_key', ['match_key'], unique=False)
    _fill_match_keys()
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_years', sa.Integer(), nullable=True))
    op.create_table(
        'duplicate_pairs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('donor_a_id', sa.Integer(), nullable=False),
        sa.Column('donor_b_id', sa.Integer(), nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('reasons', sa.JSON(), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('found_at', sa.DateTime(), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['donor_a_id'], ['donors.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['donor_b_id'], ['donors.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('donor_a_id', 'donor_b_id', name='uq_duplicate_pairs_pair'),
    )
    with op.batch_alter_table('duplicate_pairs', schema=None) as batch_op:
        batch_op.create_index('ix_duplicate_pairs_status_score', ['status', 'score'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_pairs_donor_b_id'), ['donor_b_id'], unique=False)
    op.create_table(
        'donor_redirects',
        sa.Column('merged_id', sa.Integer(), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=False),
        sa.Column('merged_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('merged_id'),
    )
    with op.batch_alter_table('donor_redirects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_donor_redirects_donor_id'), ['donor_id'], unique=False)
    op.create_table(
        'erased_emails',
        sa.Column('email_hash', sa.String(length=64), nullable=False),
        sa.Column('erased_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('email_hash'),
    )
    op.create_table(
        'data_exports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('job_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('size_bytes', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('data_exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_exports_donor_id'), ['donor_id'], unique=False)


def _fill_match_keys():
    """Existing donors get their key with the same function new ones do, a batch at a time."""
    from portal.donors.duplicates import match_key

    connection = op.get_bind()
    donors = sa.table('donors', sa.column('id', sa.Integer), sa.column('kind', sa.String), sa.column('first_name', sa.String),
                      sa.column('last_name', sa.String), sa.column('organisation_name', sa.String), sa.column('match_key', sa.String))
    last_id = 0
    while True:
        rows = connection.execute(sa.select(donors.c.id, donors.c.kind, donors.c.first_name, donors.c.last_name,
                                            donors.c.organisation_name).where(donors.c.id > last_id)
                                  .order_by(donors.c.id).limit(5000)).all()
        if not rows:
            return
        connection.execute(donors.update().where(donors.c.id == sa.bindparam('donor_id')).values(match_key=sa.bindparam('key')),
                           [{'donor_id': row.id, 'key': match_key(row.kind, row.first_name, row.last_name, row.organisation_name)}
                            for row in rows])
        last_id = rows[-1].id


def downgrade():
    op.drop_table('data_exports')
    op.drop_table('erased_emails')
    op.drop_table('donor_redirects')
    op.drop_table('duplicate_pairs')
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('retention_years')
    with op.batch_alter_table('donors', schema=None) as batch_op:
        batch_op.drop_index('ix_donors_match_key')
        batch_op.drop_column('erased_at')
        batch_op.drop_column('match_key')
