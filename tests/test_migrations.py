"""Migrations: upgrade from an empty database on SQLite and PostgreSQL, and the models
agree with what the migrations build."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from jupyterhub_templates.db import Database
from jupyterhub_templates.db.models import Base
from jupyterhub_templates.db.session import alembic_config


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.sqlite'}"
    return request.getfixturevalue("pg_url")


def test_upgrade_from_empty(db_url: str) -> None:
    db = Database(db_url)
    assert inspect(db.engine).get_table_names() == []
    db.upgrade()
    tables = set(inspect(db.engine).get_table_names())
    assert {
        "templates",
        "template_versions",
        "notebooks",
        "notebook_params",
        "notebook_executions",
        "alembic_version",
    } <= tables
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    # applying again is a no-op
    db.upgrade()
    db.check()
    db.dispose()


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    db = Database(db_url)
    db.upgrade()
    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.upgrade()
    assert "templates" in inspect(db.engine).get_table_names()
    db.dispose()
