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


def test_stored_nan_and_infinity_become_null(tmp_path) -> None:
    """A SQLite catalog written by an earlier version with ``Infinity`` in a template's
    defaults and ``NaN`` in an execution's MLflow metrics reads as valid JSON after the
    upgrade."""
    import json

    from sqlalchemy import text

    db = Database(f"sqlite:///{tmp_path / 'old.sqlite'}")
    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003_catalog_indexes")
        params = '[{"name": "t", "default": "1e999", "default_value": Infinity}]'
        conn.execute(
            text(
                "INSERT INTO templates (id, name, category, filename, description, "
                "current_version, size, sha256, kernel_name, parameters, uploader, "
                "created_at, updated_at) VALUES (1, 'a/b.ipynb', 'a', 'b.ipynb', '', 1, 1, "
                "'x', 'python3', :p, 'x', '2026-01-01', '2026-01-01')"
            ),
            {"p": params},
        )
        runs = '[{"run_id": "r", "metrics": {"loss": NaN, "acc": 0.5}}]'
        conn.execute(
            text(
                "INSERT INTO notebook_executions (id, remote_id, username, notebook_path, "
                "output_path, kernel_name, parameters, status, cells_done, cells_total, "
                "mlflow_runs, created_at, updated_at) VALUES (1, '1-x', 'alice', 'a.ipynb', "
                "'a-run-1.ipynb', '', '{}', 'success', 0, 0, :r, '2026-01-01', '2026-01-01')"
            ),
            {"r": runs},
        )
    db.upgrade()
    with db.engine.connect() as conn:
        stored_params = conn.execute(text("SELECT parameters FROM templates")).scalar_one()
        stored_runs = conn.execute(text("SELECT mlflow_runs FROM notebook_executions")).scalar()

    def refuse(name: str) -> None:
        raise ValueError(name)

    assert json.loads(stored_params, parse_constant=refuse)[0]["default_value"] is None
    assert json.loads(stored_runs, parse_constant=refuse)[0]["metrics"] == {
        "loss": None,
        "acc": 0.5,
    }
    db.dispose()
