"""knowledge base

Revision ID: 0005_knowledge_base
Revises: 0001_foundation
Create Date: 2026-11-22 22:33:40.953746

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0005_knowledge_base"
down_revision = "0004_selfservice_loyalty"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('kb_suggestion_state',
    sa.Column('donor_id', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.Column('through_touchpoint_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], name=op.f('fk_kb_suggestion_state_donor_id_donors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('donor_id', name=op.f('pk_kb_suggestion_state'))
    )
    with op.batch_alter_table('kb_suggestion_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_suggestion_state_through_touchpoint_id'), ['through_touchpoint_id'], unique=False)

    op.create_table('kb_articles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=120), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('body_md', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('tags', sa.String(length=400), nullable=False),
    sa.Column('audience', sa.String(length=10), nullable=False),
    sa.Column('related', sa.String(length=600), nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.Column('origin', sa.String(length=10), nullable=False),
    sa.Column('source_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('indexed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_kb_articles_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_articles')),
    sa.UniqueConstraint('slug', name=op.f('uq_kb_articles_slug'))
    )
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.create_index('ix_kb_articles_published_audience', ['published', 'audience'], unique=False)

    op.create_table('kb_article_views',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('donor_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('viewed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_article_views_article_id_kb_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], name=op.f('fk_kb_article_views_donor_id_donors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article_views'))
    )
    with op.batch_alter_table('kb_article_views', schema=None) as batch_op:
        batch_op.create_index('ix_kb_article_views_article_time', ['article_id', 'viewed_at'], unique=False)
        batch_op.create_index('ix_kb_article_views_donor_time', ['donor_id', 'viewed_at'], unique=False)
        batch_op.create_index('ix_kb_article_views_source_time', ['source', 'viewed_at'], unique=False)

    op.create_table('kb_article_votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('voter_key', sa.String(length=80), nullable=False),
    sa.Column('donor_id', sa.Integer(), nullable=True),
    sa.Column('helpful', sa.Boolean(), nullable=False),
    sa.Column('voted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_article_votes_article_id_kb_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], name=op.f('fk_kb_article_votes_donor_id_donors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article_votes')),
    sa.UniqueConstraint('article_id', 'voter_key', name='uq_kb_article_votes_article_voter')
    )
    with op.batch_alter_table('kb_article_votes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_article_votes_article_id'), ['article_id'], unique=False)

    op.create_table('kb_searches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('query', sa.String(length=200), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('result_count', sa.Integer(), nullable=False),
    sa.Column('top_article_id', sa.Integer(), nullable=True),
    sa.Column('donor_id', sa.Integer(), nullable=True),
    sa.Column('touchpoint_id', sa.Integer(), nullable=True),
    sa.Column('searched_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], name=op.f('fk_kb_searches_donor_id_donors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['top_article_id'], ['kb_articles.id'], name=op.f('fk_kb_searches_top_article_id_kb_articles'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['touchpoint_id'], ['touchpoints.id'], name=op.f('fk_kb_searches_touchpoint_id_touchpoints'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_searches'))
    )
    with op.batch_alter_table('kb_searches', schema=None) as batch_op:
        batch_op.create_index('ix_kb_searches_donor_time', ['donor_id', 'searched_at'], unique=False)
        batch_op.create_index('ix_kb_searches_results_time', ['result_count', 'searched_at'], unique=False)

    op.create_table('kb_suggestions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('donor_id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_suggestions_article_id_kb_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], name=op.f('fk_kb_suggestions_donor_id_donors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_suggestions')),
    sa.UniqueConstraint('donor_id', 'article_id', name='uq_kb_suggestions_donor_article')
    )
    with op.batch_alter_table('kb_suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_suggestions_article_id'), ['article_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_kb_suggestions_donor_id'), ['donor_id'], unique=False)



def downgrade():
    with op.batch_alter_table('kb_suggestions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_suggestions_donor_id'))
        batch_op.drop_index(batch_op.f('ix_kb_suggestions_article_id'))

    op.drop_table('kb_suggestions')
    with op.batch_alter_table('kb_searches', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_searches_results_time')
        batch_op.drop_index('ix_kb_searches_donor_time')

    op.drop_table('kb_searches')
    with op.batch_alter_table('kb_article_votes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_article_votes_article_id'))

    op.drop_table('kb_article_votes')
    with op.batch_alter_table('kb_article_views', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_article_views_source_time')
        batch_op.drop_index('ix_kb_article_views_donor_time')
        batch_op.drop_index('ix_kb_article_views_article_time')

    op.drop_table('kb_article_views')
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_articles_published_audience')

    op.drop_table('kb_articles')
    with op.batch_alter_table('kb_suggestion_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_suggestion_state_through_touchpoint_id'))

    op.drop_table('kb_suggestion_state')
