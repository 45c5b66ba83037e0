"""Faults: the store or the database going away. The service answers 503, writes no
half of anything, and recovers by itself when the dependency is back."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import requests
from fixtures.hub import Hub, ServiceProcess
from fixtures.postgres import TcpRelay
from fixtures.s3 import MotoServer, make_s3_store
from notebooks import make_notebook
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def upload(
    service: ServiceProcess, category: str, filename: str, data: bytes, **form: str
) -> requests.Response:
    return service.request(
        "POST",
        "minio/upload-template",
        "admin",
        files={"file": (filename, data)},
        data={"category": category, **form},
    )


def count_rows(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM templates")).scalar_one()
    finally:
        engine.dispose()


def test_s3_down_gives_503_and_no_row_then_recovers(
    hub: Hub, moto_server: MotoServer, tmp_path: Path
) -> None:
    if not moto_server.running:
        moto_server.start()
    bucket = f"faults-{uuid.uuid4().hex[:10]}"
    db_url = f"sqlite:///{tmp_path / 'templates.sqlite'}"
    service = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": db_url,
            **moto_server.service_env(bucket),
        },
        tmp_path,
    )
    service.start(["--TemplatesService.health_cache_seconds=0"])
    try:
        assert upload(service, "ml", "before.ipynb", make_notebook()).status_code == 201
        moto_server.stop()
        try:
            start = time.monotonic()
            r = upload(service, "ml", "during.ipynb", make_notebook())
            assert r.status_code == 503, r.text
            assert time.monotonic() - start < 30  # fails fast, does not hang
            assert "store" in r.json()["message"].lower()
            assert moto_server.secret_key not in r.text
            assert count_rows(db_url) == 1  # no row written for the failed upload
            r = service.request("GET", "minio/download-url/ml/before.ipynb", "alice")
            # no URL to an object nobody can say is there (presigning alone needs no
            # network; the object is looked up first)
            assert r.status_code == 503, r.text
            assert "store" in r.json()["message"].lower()
            r = service.request(
                "GET", "minio/get-template/ml/before.ipynb", "alice", params={"content": "true"}
            )
            # served from the content cache, or 503 — never a 500
            assert r.status_code in (200, 503)
            r = requests.get(service.url + "health", timeout=30)
            assert r.status_code == 503
            assert r.json()["checks"]["store"]["ok"] is False
            assert r.json()["checks"]["database"]["ok"] is True
        finally:
            moto_server.start()
        # moto lost its state on restart; the store recreates the bucket by itself
        r = upload(service, "ml", "after.ipynb", make_notebook())
        assert r.status_code == 201, r.text
        assert requests.get(service.url + "health", timeout=30).status_code == 200
        store = make_s3_store(moto_server, bucket=bucket)
        assert {o.key for o in store.list()} == {
            "ml/after.ipynb",
            ".versions/ml/after.ipynb/1.ipynb",
        }
        text_log = service.log.read_text()
        assert moto_server.secret_key not in text_log
    finally:
        service.stop()


def test_database_down_gives_503_and_recovers(
    hub: Hub, pg_url: str, pg_relay: TcpRelay, tmp_path: Path
) -> None:
    relayed = make_url(pg_url).set(host="127.0.0.1", port=pg_relay.port)
    relayed_url = relayed.render_as_string(hide_password=False)
    service = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": relayed_url,
            "JUPYTERHUB_TEMPLATES_STORE": "directory",
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(tmp_path / "store"),
        },
        tmp_path,
    )
    service.start(["--TemplatesService.health_cache_seconds=0"])
    try:
        assert upload(service, "ml", "a.ipynb", make_notebook()).status_code == 201
        assert service.request("GET", "minio/list-templates", "alice").status_code == 200
        pg_relay.cut()
        r = service.request("GET", "minio/list-templates", "alice")
        assert r.status_code == 503, r.text
        assert r.json()["message"].startswith("The database is unavailable")
        r = upload(service, "ml", "b.ipynb", make_notebook())
        assert r.status_code == 503
        assert not (tmp_path / "store" / "ml" / "b.ipynb").exists()
        r = requests.get(service.url + "health", timeout=30)
        assert r.status_code == 503
        assert r.json()["checks"]["database"]["ok"] is False
        pg_relay.restore()
        # recovers without a restart (the pool pings and reconnects)
        r = service.request("GET", "minio/list-templates", "alice")
        assert r.status_code == 200, r.text
        assert [t["name"] for t in r.json()["templates"]] == ["ml/a.ipynb"]
        assert requests.get(service.url + "health", timeout=30).status_code == 200
    finally:
        service.stop()


def test_failed_write_leaves_no_object_and_no_row(hub: Hub, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    db_url = f"sqlite:///{tmp_path / 'templates.sqlite'}"
    service = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": db_url,
            "JUPYTERHUB_TEMPLATES_STORE": "directory",
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(store_dir),
        },
        tmp_path,
    )
    service.start()
    try:
        # A directory where the template's object should go: the second write of the
        # upload (the current object, after the version object) fails.
        (store_dir / "ml" / "clash.ipynb").mkdir(parents=True)
        r = upload(service, "ml", "clash.ipynb", make_notebook())
        assert r.status_code == 503, r.text
        assert not (store_dir / ".versions" / "ml" / "clash.ipynb" / "1.ipynb").exists()
        assert count_rows(db_url) == 0
        # an overwrite that fails restores the previous current object
        assert upload(service, "ml", "ok.ipynb", make_notebook(body="1")).status_code == 201
        v1 = (store_dir / "ml" / "ok.ipynb").read_bytes()
        version2_dir = store_dir / ".versions" / "ml" / "ok.ipynb" / "2.ipynb"
        version2_dir.mkdir(parents=True)  # the version object cannot be written
        r = upload(service, "ml", "ok.ipynb", make_notebook(body="2"), overwrite="true")
        assert r.status_code == 503
        assert (store_dir / "ml" / "ok.ipynb").read_bytes() == v1
        detail = service.request("GET", "minio/get-template/ml/ok.ipynb", "alice").json()
        assert detail["version"] == 1
        assert not list(store_dir.rglob(".upload-*"))
    finally:
        service.stop()


def test_service_gives_up_clearly_on_unreachable_database(hub: Hub, tmp_path: Path) -> None:
    service = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": "postgresql+psycopg2://nobody:hunter2secret@127.0.0.1:1/x",
        },
        tmp_path,
    )
    with pytest.raises(RuntimeError):
        service.start(["--TemplatesService.db_startup_timeout=2"])
    text_log = service.log.read_text()
    assert "cannot reach the database" in text_log
    assert "Traceback" not in text_log
    assert "hunter2secret" not in text_log
    assert "database" in text_log.lower()
