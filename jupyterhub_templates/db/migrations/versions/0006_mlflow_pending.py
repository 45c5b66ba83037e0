"""Executions say when their MLflow runs are still being looked up.

A run's final status and its MLflow runs are written in two steps (the lookup needs
MLflow); in between, a record says so (``mlflow.pending``) instead of showing no runs.

Revision ID: 0006_mlflow_pending
Revises: 0005_audit_events
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_mlflow_pending"
down_revision = "0005_audit_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.add_column(
            sa.Column("mlflow_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.drop_column("mlflow_pending")
