"""Analytics views for dashboards (Superset, Grafana, plain SQL): runs per template and
day with success rate and duration percentiles, failures by reason, active users per
day, and a summary per template. Columns are documented in README.md (Analytics).

PostgreSQL only (percentile_cont, FILTER): on SQLite, the one-process demo database,
there are no views. A role named `templates_analytics`, if there is one, may read the
views (and, since views run with their owner's rights, nothing else): dashboards connect
through it and never see a parameter, a path's contents or an audit event.

Revision ID: 0008_analytics_views
Revises: 0007_leases
Create Date: 2026-12-02
"""

# The views' SQL is built from this file's own constants; no input reaches it.
# ruff: noqa: S608

from alembic import op

revision = "0008_analytics_views"
down_revision = "0007_leases"
branch_labels = None
depends_on = None

# Statuses as stored when this migration was written (the views are a snapshot: a
# status added later needs a migration that replaces them).
FINISHED = "('success', 'failed', 'cancelled')"
ACTIVE = "('pending', 'running')"
#: the read-only role dashboards connect as (deploy/postgres/init-databases.sh makes it)
READER = "templates_analytics"
#: a run's duration as the API reports it: from its request to its end
DURATION = "extract(epoch FROM end_time - created_at)"
DAY = "(created_at AT TIME ZONE 'UTC')::date"
TEMPLATE = "coalesce(template_name, '(no template)')"
#: success rate (of the finished runs) and duration percentiles of a group of runs
OUTCOMES = f"""
    round(
        (count(*) FILTER (WHERE status = 'success'))::numeric
        / nullif(count(*) FILTER (WHERE status IN {FINISHED}), 0),
        4
    ) AS success_rate,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY {DURATION})
        FILTER (WHERE end_time IS NOT NULL) AS p50_seconds,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY {DURATION})
        FILTER (WHERE end_time IS NOT NULL) AS p95_seconds
"""

VIEWS = {
    "analytics_runs_daily": f"""
        SELECT {TEMPLATE} AS template_name,
               {DAY} AS day,
               count(*) AS runs,
               count(*) FILTER (WHERE status = 'success') AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE status IN {ACTIVE}) AS active,
               {OUTCOMES}
        FROM notebook_executions
        GROUP BY 1, 2
    """,
    "analytics_failures_by_reason": f"""
        SELECT {TEMPLATE} AS template_name,
               {DAY} AS day,
               coalesce(reason, 'error') AS reason,
               count(*) AS failures
        FROM notebook_executions
        WHERE status = 'failed'
        GROUP BY 1, 2, 3
    """,
    "analytics_active_users_daily": f"""
        SELECT day,
               count(DISTINCT username) AS active_users,
               count(*) FILTER (WHERE kind = 'run') AS runs,
               count(*) FILTER (WHERE kind = 'notebook') AS notebooks_created
        FROM (
            SELECT {DAY} AS day, username, 'run' AS kind FROM notebook_executions
            UNION ALL
            SELECT {DAY} AS day, username, 'notebook' AS kind FROM notebooks
        ) AS activity
        GROUP BY day
    """,
    "analytics_templates": f"""
        SELECT {TEMPLATE} AS template_name,
               count(*) AS runs,
               count(DISTINCT username) AS users,
               {OUTCOMES},
               max(created_at) AS last_run
        FROM notebook_executions
        GROUP BY 1
    """,
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, query in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW {name} AS {query}")
    op.execute(
        f"""DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER}') THEN
                GRANT SELECT ON {", ".join(VIEWS)} TO {READER};
            END IF;
        END $$"""
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
