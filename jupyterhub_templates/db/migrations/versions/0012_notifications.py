"""Notifications: where a run's (and a job's runs') end is told, and each delivery.

Revision ID: 0012_notifications
Revises: 0011_retries
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from jupyterhub_templates.db.models import UTCDateTime

revision = "0012_notifications"
down_revision = "0011_retries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.add_column(sa.Column("notify", sa.JSON(), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("notify", sa.JSON(), nullable=True))
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "execution_id",
            sa.Integer(),
            sa.ForeignKey(
                "notebook_executions.id", ondelete="CASCADE", name="fk_deliveries_execution"
            ),
            nullable=False,
        ),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(2048), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_notification_deliveries_execution_id", "notification_deliveries", ["execution_id"]
    )
    op.create_index("ix_notification_deliveries_state", "notification_deliveries", ["state"])
    op.create_index(
        "ix_notification_deliveries_next_attempt_at",
        "notification_deliveries",
        ["next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("notify")
    with op.batch_alter_table("notebook_executions") as batch:
        batch.drop_column("notify")
