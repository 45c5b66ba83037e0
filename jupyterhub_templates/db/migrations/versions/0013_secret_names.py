"""Secret parameters: an execution remembers the names of the secrets it was given
(never their values).

Revision ID: 0013_secret_names
Revises: 0012_notifications
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_secret_names"
down_revision = "0012_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.add_column(sa.Column("secret_names", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.drop_column("secret_names")
