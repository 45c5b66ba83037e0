"""The analytics views (migration 0008) on the real PostgreSQL: a known set of runs and
notebooks, and what each view says of them, computed here independently."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures.analytics import DAY1, DAY2, READER, SECRET, make_reader, percentile, seed
from sqlalchemy import text

from jupyterhub_templates.db import Database
from jupyterhub_templates.statuses import STATUSES

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    database.upgrade()
    seed(database)
    yield database
    database.dispose()


def rows(db: Database, query: str) -> list[dict]:
    with db.session() as session:
        return [dict(r._mapping) for r in session.execute(text(query))]


def test_runs_per_template_and_day(db: Database) -> None:
    got = {
        (r["template_name"], r["day"]): r for r in rows(db, "SELECT * FROM analytics_runs_daily")
    }
    assert set(got) == {
        ("ml/a.ipynb", DAY1.date()),
        ("ml/a.ipynb", DAY2.date()),
        ("ml/b.ipynb", DAY2.date()),
        ("(no template)", DAY2.date()),
    }
    a1 = got[("ml/a.ipynb", DAY1.date())]
    assert (a1["runs"], a1["succeeded"], a1["failed"], a1["cancelled"], a1["active"]) == (
        6,
        2,
        2,
        1,
        1,
    )
    assert float(a1["success_rate"]) == round(2 / 5, 4)  # of the finished runs
    durations = [10.0, 20.0, 30.0, 100.0, 5.0]
    assert a1["p50_seconds"] == pytest.approx(percentile(durations, 0.5))
    assert a1["p95_seconds"] == pytest.approx(percentile(durations, 0.95))
    b2 = got[("ml/b.ipynb", DAY2.date())]
    assert float(b2["success_rate"]) == 0.0 and b2["active"] == 1
    # every stored status is counted in one column
    for r in got.values():
        assert r["runs"] == r["succeeded"] + r["failed"] + r["cancelled"] + r["active"]
    assert set(STATUSES) == {"pending", "running", "success", "failed", "cancelled"}


def test_failures_by_reason(db: Database) -> None:
    got = {
        (r["template_name"], r["day"], r["reason"]): r["failures"]
        for r in rows(db, "SELECT * FROM analytics_failures_by_reason")
    }
    assert got == {
        ("ml/a.ipynb", DAY1.date(), "cell error"): 1,
        ("ml/a.ipynb", DAY1.date(), "timeout"): 1,
        ("ml/b.ipynb", DAY2.date(), "cell error"): 1,
    }


def test_active_users_per_day(db: Database) -> None:
    got = {r["day"]: r for r in rows(db, "SELECT * FROM analytics_active_users_daily")}
    # day 1: alice, bob, carol ran; zoe (and alice) created notebooks
    assert got[DAY1.date()]["active_users"] == 4
    assert got[DAY1.date()]["runs"] == 6 and got[DAY1.date()]["notebooks_created"] == 2
    # day 2 (23:30 UTC is still that day in UTC): alice, dave, erin
    assert got[DAY2.date()]["active_users"] == 3


def test_template_summary(db: Database) -> None:
    got = {r["template_name"]: r for r in rows(db, "SELECT * FROM analytics_templates")}
    a = got["ml/a.ipynb"]
    assert a["runs"] == 7 and a["users"] == 3
    assert float(a["success_rate"]) == round(3 / 6, 4)
    finished = [10.0, 20.0, 30.0, 100.0, 5.0, 7.0]
    assert a["p95_seconds"] == pytest.approx(percentile(finished, 0.95))
    assert a["last_run"] == DAY2
    # no parameter value (they may be secret) is in any view
    for view in ("analytics_runs_daily", "analytics_templates", "analytics_failures_by_reason"):
        for r in rows(db, f"SELECT * FROM {view}"):  # noqa: S608 (the view names above)
            assert SECRET not in str(list(r.values()))


def test_the_views_go_with_a_downgrade(pg_url: str) -> None:
    from alembic import command

    from jupyterhub_templates.db.session import alembic_config

    database = Database(pg_url)
    database.upgrade()
    cfg = alembic_config()
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007_leases")
    names = rows(database, "SELECT viewname FROM pg_views WHERE viewname LIKE 'analytics_%'")
    assert names == []
    database.upgrade()
    names = rows(database, "SELECT viewname FROM pg_views WHERE viewname LIKE 'analytics_%'")
    assert len(names) == 4
    database.dispose()


def test_the_reader_role_reads_the_views_and_nothing_else(pg_url: str) -> None:
    """Dashboards connect as `templates_analytics` (deploy/postgres/init-databases.sh):
    the migration lets it read the views, whose rows hold no parameter, and no table."""
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = Database(pg_url)
    make_reader(admin)
    admin.upgrade()
    seed(admin)
    url = make_url(pg_url)
    reader = psycopg2.connect(host=url.host, port=url.port, dbname=url.database, user=READER)
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT sum(runs) FROM analytics_templates")
            assert cur.fetchone()[0] == 10
        for table in ("notebook_executions", "notebooks", "audit_events", "templates"):
            with reader.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"SELECT 1 FROM {table}")  # noqa: S608 (the names above)
            reader.rollback()
    finally:
        reader.close()
        admin.dispose()
