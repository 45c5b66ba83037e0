"""The catalog's fast read path: one statement per listing, deep pages by
keyset, cached totals, and autocommit reads without pre-ping that still recover when
PostgreSQL drops every connection (as on a restart). Real PostgreSQL and SQLite, the
directory store."""

from __future__ import annotations

import datetime
import json
import logging
from pathlib import Path

import psycopg2
import pytest
from fixtures.postgres import TcpRelay
from notebooks import make_notebook
from sqlalchemy import text
from sqlalchemy.engine import make_url

from jupyterhub_templates.catalog.cache import TotalsCache
from jupyterhub_templates.catalog.catalog import Catalog
from jupyterhub_templates.db import Database
from jupyterhub_templates.errors import Unavailable
from jupyterhub_templates.stores.directory import DirectoryTemplateStore


def make_catalog(url: str, root: Path, **kwargs: object) -> Catalog:
    db = Database(url)
    db.upgrade()
    store = DirectoryTemplateStore(root=str(root))
    return Catalog(db, store, **kwargs)


def fill(catalog: Catalog, names: list[tuple[str, str, str]]) -> None:
    for category, filename, description in names:
        catalog.upload(
            filename=filename,
            category=category,
            data=make_notebook(),
            description=description,
            uploader="t",
        )


NAMES = [
    (cat, f"{word}_{i:02d}.ipynb", f"{word.title()} number {i}")
    for i in range(12)
    for cat, word in (("ml", "churn"), ("etl", "sales"), ("geo", "maps"))
]


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Catalog:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    cat = make_catalog(url, tmp_path / "store")
    fill(cat, NAMES)
    yield cat
    cat.db.dispose()


def reference_page(catalog: Catalog, where: str, order: str, limit: int, offset: int) -> list:
    with catalog.db.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    f"SELECT name FROM templates {where} ORDER BY name {order} "  # noqa: S608
                    "LIMIT :limit OFFSET :offset"
                ),
                {"limit": limit, "offset": offset},
            ).scalars()
        )


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_keyset_pages_equal_offset_pages(catalog: Catalog, order: str) -> None:
    for category, where in ((None, ""), ("ml", "WHERE category = 'ml'")):
        total = len(reference_page(catalog, where, order, 1000, 0))
        for limit in (1, 5, 7):
            for offset in range(total + 2):
                page = catalog.list(category=category, limit=limit, offset=offset, order=order)
                names = [t["name"] for t in page["templates"]]
                assert names == reference_page(catalog, where, order, limit, offset), (
                    category,
                    limit,
                    offset,
                )
                assert page["total"] == total
                assert page["count"] == len(names)


def test_search_and_past_the_end(catalog: Catalog) -> None:
    page = catalog.list(q="CHURN", limit=5, offset=10)
    assert page["total"] == 12 and [t["name"] for t in page["templates"]] == [
        "ml/churn_10.ipynb",
        "ml/churn_11.ipynb",
    ]
    assert catalog.list(q="number 1", category="geo", limit=50)["total"] == 3  # 1, 10, 11
    assert catalog.list(q="_1", limit=50)["total"] == 6  # "_" is literal, not a wildcard
    assert catalog.list(q="%", limit=50)["total"] == 0
    empty = catalog.list(limit=10, offset=500)
    assert empty["templates"] == [] and empty["total"] == len(NAMES)
    assert catalog.list(category="nosuch", limit=10)["total"] == 0
    # sorted by another column: ties broken by name, OFFSET paging
    sizes = catalog.list(sort="size", order="desc", limit=4, offset=2)
    assert sizes["count"] == 4 and sizes["total"] == len(NAMES)


def test_own_writes_show_in_the_total_at_once(catalog: Catalog) -> None:
    assert catalog.list(category="ml", limit=1)["total"] == 12
    fill(catalog, [("ml", "new.ipynb", "")])
    assert catalog.list(category="ml", limit=1)["total"] == 13
    catalog.delete("ml/new.ipynb")
    catalog.delete("ml/churn_00.ipynb")
    assert catalog.list(category="ml", limit=1)["total"] == 11
    assert catalog.list(limit=1)["total"] == len(NAMES) - 1


def test_without_total_cache_other_writers_show_at_once(tmp_path: Path, pg_url: str) -> None:
    first = make_catalog(pg_url, tmp_path / "store", total_cache_seconds=0)
    other = make_catalog(pg_url, tmp_path / "store")
    fill(first, NAMES[:3])
    assert first.list(limit=1)["total"] == 3
    fill(other, [("ml", "elsewhere.ipynb", "")])  # another replica's upload
    assert first.list(limit=1)["total"] == 4
    first.db.dispose()
    other.db.dispose()


def test_totals_cache_drops_counts_raced_by_an_invalidation() -> None:
    cache = TotalsCache(60)
    generation = cache.generation
    cache.invalidate()  # a write committed while the count ran
    cache.put(("ml", None), 5, generation)
    assert cache.get(("ml", None)) is None
    cache.put(("ml", None), 6, cache.generation)
    assert cache.get(("ml", None)) == 6
    assert TotalsCache(0).get(("ml", None)) is None


def _terminate_connections(url: str) -> int:
    """What a PostgreSQL restart does to the service's pooled connections."""
    database = make_url(url).database
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        killed = cur.fetchone()[0]
    conn.close()
    return killed


def test_reads_recover_when_postgres_drops_every_connection(
    tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jupyterhub_templates.db.session")
    catalog = make_catalog(pg_url, tmp_path / "store")
    fill(catalog, NAMES[:6])
    # several pooled read connections, all about to die
    for _ in range(3):
        assert catalog.list(limit=2)["total"] == 6
    assert catalog.get("ml/churn_00.ipynb")["version"] == 1
    assert _terminate_connections(pg_url) >= 1
    # no pre-ping on reads: the first read finds its connection dead and retries once
    assert catalog.list(limit=2, offset=3)["total"] == 6
    assert "database connection lost" in caplog.text
    assert catalog.get("etl/sales_01.ipynb")["name"] == "etl/sales_01.ipynb"
    assert [c["name"] for c in catalog.categories()] == ["etl", "geo", "ml"]
    # writes still use pre-pinged connections
    assert _terminate_connections(pg_url) >= 1
    fill(catalog, [("ml", "after.ipynb", "")])
    assert catalog.list(category="ml", limit=1)["total"] == 3
    catalog.db.dispose()


def test_reads_say_unavailable_while_the_database_is_unreachable(
    tmp_path: Path, pg_url: str, pg_relay: TcpRelay
) -> None:
    relayed = make_url(pg_url).set(host="127.0.0.1", port=pg_relay.port)
    pg_relay.restore()
    catalog = make_catalog(relayed.render_as_string(hide_password=False), tmp_path / "s")
    fill(catalog, NAMES[:2])
    assert catalog.list(limit=5)["count"] == 2
    pg_relay.cut()
    with pytest.raises(Unavailable):
        catalog.list(limit=5)
    with pytest.raises(Unavailable):
        catalog.get("ml/churn_00.ipynb")
    pg_relay.restore()
    assert catalog.list(limit=5)["count"] == 2
    catalog.db.dispose()


def test_json_listing_means_what_the_python_listing_says(catalog: Catalog) -> None:
    """On PostgreSQL the database writes the listing's JSON; it must decode to what
    json.dumps of the Python listing does, whatever the text and timestamps."""
    fill(
        catalog,
        [("ml", "odd.ipynb", 'Ünïcödé "quotes" \\ back\\slash\ttab\nline \u2028 \U0001f600')],
    )
    with catalog.db.engine.begin() as conn:  # a timestamp without a fraction of a second
        conn.execute(
            text("UPDATE templates SET created_at = :ts WHERE name = 'ml/churn_01.ipynb'"),
            {"ts": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)},
        )
    cases = [
        {"limit": 50},
        {"category": "ml", "limit": 5, "offset": 1},
        {"q": "churn", "limit": 3, "offset": 2, "sort": "created", "order": "desc"},
        {"sort": "size", "order": "asc", "limit": 7, "offset": 30},
        {"limit": 10, "offset": 1000},
        {"category": "nosuch", "limit": 10},
    ]
    for params in cases:
        for cached_total in (False, True):  # the total counted by the statement or known
            expected = {"status": "success", **catalog.list(**params)}
            if not cached_total:
                catalog.totals.invalidate()
            assert json.loads(catalog.list_json(**params)) == expected, params
    odd = json.loads(catalog.list_json(category="ml", q="odd", limit=1))["templates"][0]
    assert odd["description"].startswith('Ünïcödé "quotes"')
    first = json.loads(catalog.list_json(category="ml", limit=2))["templates"]
    assert first[1]["created_at"] == "2026-01-02T03:04:05Z"
