"""The audit trail: one row per state-changing request, allowed or refused.

Revision ID: 0005_audit_events
Revises: 0004_finite_json
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from jupyterhub_templates.db.models import UTCDateTime

revision = "0005_audit_events"
down_revision = "0004_finite_json"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("on_behalf_of", sa.String(255), nullable=True),
        sa.Column("scope", sa.String(320), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(1100), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
    )
    op.create_index("ix_audit_events_time", "audit_events", ["time"])
    op.create_index("ix_audit_events_username", "audit_events", ["username"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])


def downgrade() -> None:
    op.drop_table("audit_events")
