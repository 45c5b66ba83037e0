"""No NaN or Infinity in stored JSON.

Earlier versions stored a template default such as ``threshold = 1e999`` (and MLflow
metrics that were NaN) as the non-JSON tokens ``Infinity`` / ``NaN``, which made every
listing that included them unreadable to browsers. They become null, as new ones are.
Only SQLite can hold them: PostgreSQL's ``json`` type refused them when they were
written.

Revision ID: 0004_finite_json
Revises: 0003_catalog_indexes
Create Date: 2026-12-01
"""

import json

import sqlalchemy as sa
from alembic import op

from jupyterhub_templates.jsontext import finite

revision = "0004_finite_json"
down_revision = "0003_catalog_indexes"
branch_labels = None
depends_on = None

COLUMNS = (
    ("templates", "parameters"),
    ("template_versions", "parameters"),
    ("notebook_executions", "mlflow_runs"),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table, column in COLUMNS:
        # only rows whose text holds one of the tokens are read and rewritten
        rows = bind.execute(
            sa.text(
                f"SELECT id, {column} FROM {table} "  # noqa: S608 (names from COLUMNS)
                f"WHERE {column} LIKE '%NaN%' OR {column} LIKE '%Infinity%'"
            )
        ).all()
        for row_id, raw in rows:
            value = json.loads(raw)
            cleaned = finite(value)
            if cleaned is not value:
                bind.execute(
                    sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),  # noqa: S608
                    {"v": json.dumps(cleaned, allow_nan=False), "id": row_id},
                )


def downgrade() -> None:
    pass  # nothing to undo: null stays a valid default
