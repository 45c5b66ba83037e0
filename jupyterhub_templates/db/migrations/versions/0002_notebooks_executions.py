"""Notebooks created from templates, their parameters, and executions.

Revision ID: 0002_notebooks_executions
Revises: 0001_catalog
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from jupyterhub_templates.db.models import UTCDateTime

revision = "0002_notebooks_executions"
down_revision = "0001_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notebooks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("template_name", sa.String(320), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_notebooks_username", "notebooks", ["username"])
    op.create_index("ix_notebooks_template_name", "notebooks", ["template_name"])
    op.create_table(
        "notebook_params",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "notebook_id",
            sa.Integer(),
            sa.ForeignKey("notebooks.id", ondelete="CASCADE", name="fk_params_notebook"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_index("ix_notebook_params_notebook_id", "notebook_params", ["notebook_id"])
    op.create_table(
        "notebook_executions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("remote_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column(
            "notebook_id",
            sa.Integer(),
            sa.ForeignKey("notebooks.id", ondelete="SET NULL", name="fk_executions_notebook"),
            nullable=True,
        ),
        sa.Column("notebook_path", sa.String(1024), nullable=False),
        sa.Column("output_path", sa.String(1024), nullable=False),
        sa.Column("template_name", sa.String(320), nullable=True),
        sa.Column("kernel_name", sa.String(255), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("timeout", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("error_name", sa.String(255), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_cell", sa.Integer(), nullable=True),
        sa.Column("cells_done", sa.Integer(), nullable=False),
        sa.Column("cells_total", sa.Integer(), nullable=False),
        sa.Column("current_cell", sa.Integer(), nullable=True),
        sa.Column("server_boot_id", sa.String(64), nullable=True),
        sa.Column("experiment_name", sa.String(320), nullable=True),
        sa.Column("mlflow_runs", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("start_time", UTCDateTime(), nullable=True),
        sa.Column("end_time", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("remote_id", name="uq_executions_remote_id"),
    )
    op.create_index("ix_notebook_executions_username", "notebook_executions", ["username"])
    op.create_index("ix_notebook_executions_status", "notebook_executions", ["status"])
    op.create_index(
        "ix_notebook_executions_template_name", "notebook_executions", ["template_name"]
    )
    op.create_index("ix_notebook_executions_created_at", "notebook_executions", ["created_at"])


def downgrade() -> None:
    op.drop_table("notebook_executions")
    op.drop_table("notebook_params")
    op.drop_table("notebooks")
