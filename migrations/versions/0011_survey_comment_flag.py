"""survey responses: has_comment flag (backfilled from the answers) and the satisfaction report's index

Revision ID: 0011_survey_comment_flag
Revises: 0010_insights_gift_indexes
Create Date: 2026-11-23 01:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0011_survey_comment_flag'
down_revision = '0010_insights_gift_indexes'
branch_labels = None
depends_on = None

# A response has a comment when one of its free-text answers is not blank, as feedback.submit_response decides.
BACKFILL = {
    "sqlite": """UPDATE survey_responses SET has_comment = 1 WHERE EXISTS (
                   SELECT 1 FROM json_each(survey_responses.answers) AS answer
                   WHERE json_extract(answer.value, '$.kind') = 'text'
                     AND trim(coalesce(json_extract(answer.value, '$.value'), '')) <> '')""",
    "postgresql": """UPDATE survey_responses SET has_comment = true WHERE EXISTS (
                       SELECT 1 FROM json_array_elements(survey_responses.answers) AS answer(item)
                       WHERE answer.item ->> 'kind' = 'text' AND trim(coalesce(answer.item ->> 'value', '')) <> '')""",
}


def upgrade():
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('has_comment', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(BACKFILL[op.get_bind().dialect.name])
    op.create_index('ix_survey_responses_reporting', 'survey_responses',
                    ['created_at', 'survey_id', 'kind', 'score', 'has_comment', 'donor_id'], unique=False)


def downgrade():
    op.drop_index('ix_survey_responses_reporting', table_name='survey_responses')
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.drop_column('has_comment')
