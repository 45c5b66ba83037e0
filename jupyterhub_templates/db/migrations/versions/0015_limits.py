"""Kernel limits are kept: an execution (and a job, for its runs) remembers the limits
it asked for, so that a retry or a rerun runs with them.

Revision ID: 0015_limits
Revises: 0014_server_name
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_limits"
down_revision = "0014_server_name"
branch_labels = None
depends_on = None

TABLES = ("notebook_executions", "jobs")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("limits", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("limits")
