"""Indexes for listing the catalog at scale: a category's page in name order, and
trigram indexes for the search on PostgreSQL.

``(category, name)`` replaces the index on ``category`` alone (its prefix). The trigram
indexes need the ``pg_trgm`` extension: the migration creates it if the database user
may, and otherwise leaves the search to scan (correct, only slower). SQLite gets the
``(category, name)`` index only.

Revision ID: 0003_catalog_indexes
Revises: 0002_notebooks_executions
Create Date: 2026-11-26
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0003_catalog_indexes"
down_revision = "0002_notebooks_executions"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

TRGM_COLUMNS = ("name", "description")


def _ensure_pg_trgm() -> bool:
    """Whether pg_trgm is installed, installing it if possible (without aborting the
    migration's transaction when not: the attempt runs in a savepoint)."""
    bind = op.get_bind()
    installed = "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
    if bind.execute(sa.text(installed)).first():
        return True
    available = "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
    if not bind.execute(sa.text(available)).first():
        log.warning("pg_trgm is not available: the catalog search will scan the table")
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as e:
        log.warning("cannot create pg_trgm (%s): the catalog search will scan", type(e).__name__)
        return False
    return True


def upgrade() -> None:
    op.create_index("ix_templates_category_name", "templates", ["category", "name"])
    op.drop_index("ix_templates_category", table_name="templates")
    if op.get_bind().dialect.name == "postgresql" and _ensure_pg_trgm():
        for column in TRGM_COLUMNS:
            op.execute(
                f"CREATE INDEX ix_templates_{column}_trgm ON templates "
                f"USING gin (lower({column}) gin_trgm_ops)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in TRGM_COLUMNS:
            op.execute(f"DROP INDEX IF EXISTS ix_templates_{column}_trgm")
    op.create_index("ix_templates_category", "templates", ["category"])
    op.drop_index("ix_templates_category_name", table_name="templates")
