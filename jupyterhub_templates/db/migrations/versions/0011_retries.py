"""Retries: an execution's attempt number, the attempt it repeats, its retry policy and
when its next attempt is due; a job's retry policy.

Revision ID: 0011_retries
Revises: 0010_jobs
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from jupyterhub_templates.db.models import UTCDateTime

revision = "0011_retries"
down_revision = "0010_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.add_column(sa.Column("retry_of", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("attempt", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("retries", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("retry_at", UTCDateTime(), nullable=True))
        batch.create_foreign_key(
            "fk_executions_retry_of",
            "notebook_executions",
            ["retry_of"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_unique_constraint("uq_executions_retry_of", ["retry_of"])
        batch.create_index("ix_notebook_executions_retry_at", ["retry_at"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("retries", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("retries")
    with op.batch_alter_table("notebook_executions") as batch:
        batch.drop_index("ix_notebook_executions_retry_at")
        batch.drop_constraint("uq_executions_retry_of", type_="unique")
        batch.drop_constraint("fk_executions_retry_of", type_="foreignkey")
        batch.drop_column("retry_at")
        batch.drop_column("retries")
        batch.drop_column("attempt")
        batch.drop_column("retry_of")
