"""Leases: which service replica does a piece of shared work (follows a user's runs).

Revision ID: 0007_leases
Revises: 0006_mlflow_pending
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from jupyterhub_templates.db.models import UTCDateTime

revision = "0007_leases"
down_revision = "0006_mlflow_pending"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_leases_holder", "leases", ["holder"])


def downgrade() -> None:
    op.drop_table("leases")
