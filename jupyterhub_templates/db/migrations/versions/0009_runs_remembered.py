"""Executions remember enough to be run again and read after their server stops: the
template version the notebook came from, the run they repeat, and the tail of their log.

Revision ID: 0009_runs_remembered
Revises: 0008_analytics_views
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_runs_remembered"
down_revision = "0008_analytics_views"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.add_column(sa.Column("template_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rerun_of", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("log_tail", sa.Text(), nullable=True))
        batch.add_column(sa.Column("log_tail_offset", sa.BigInteger(), nullable=True))
        batch.create_foreign_key(
            "fk_executions_rerun_of",
            "notebook_executions",
            ["rerun_of"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.drop_constraint("fk_executions_rerun_of", type_="foreignkey")
        batch.drop_column("log_tail_offset")
        batch.drop_column("log_tail")
        batch.drop_column("rerun_of")
        batch.drop_column("template_version")
