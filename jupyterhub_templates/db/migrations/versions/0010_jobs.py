"""Jobs: definitions (a template, its parameters, a cron schedule) and their runs, each
slot at most once; an execution names the job run that started it.

Revision ID: 0010_jobs
Revises: 0009_runs_remembered
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from jupyterhub_templates.db.models import UTCDateTime

revision = "0010_jobs"
down_revision = "0009_runs_remembered"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("template_name", sa.String(320), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("target_directory", sa.String(1024), nullable=False),
        sa.Column("name_pattern", sa.String(255), nullable=False),
        sa.Column("kernel_name", sa.String(255), nullable=True),
        sa.Column("timeout", sa.Float(), nullable=True),
        sa.Column("schedule", sa.String(255), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("overlap", sa.String(16), nullable=False),
        sa.Column("missed", sa.String(16), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_jobs_owner", "jobs", ["owner"])
    op.create_index("ix_jobs_next_run_at", "jobs", ["next_run_at"])
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "job_id",
            sa.Integer(),
            sa.ForeignKey("jobs.id", ondelete="CASCADE", name="fk_job_runs_job"),
            nullable=False,
        ),
        sa.Column("slot", UTCDateTime(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("notebook_path", sa.String(1024), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("job_id", "slot", name="uq_job_runs_slot"),
    )
    op.create_index("ix_job_runs_job_id", "job_runs", ["job_id"])
    op.create_index("ix_job_runs_state", "job_runs", ["state"])
    with op.batch_alter_table("notebook_executions") as batch:
        batch.add_column(sa.Column("job_run_id", sa.Integer(), nullable=True))
        batch.create_unique_constraint("uq_executions_job_run_id", ["job_run_id"])
        batch.create_foreign_key(
            "fk_executions_job_run", "job_runs", ["job_run_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("notebook_executions") as batch:
        batch.drop_constraint("fk_executions_job_run", type_="foreignkey")
        batch.drop_constraint("uq_executions_job_run_id", type_="unique")
        batch.drop_column("job_run_id")
    op.drop_table("job_runs")
    op.drop_table("jobs")
