"""Runs in a named server: an execution remembers which of its user's servers runs it
("" for the default one).

Revision ID: 0014_server_name
Revises: 0013_secret_names
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_server_name"
down_revision = "0013_secret_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.add_column(
            sa.Column("server_name", sa.String(255), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.drop_column("server_name")
