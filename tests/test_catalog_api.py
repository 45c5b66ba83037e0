"""Component tests of every catalog route over HTTP, through a real JupyterHub's proxy,
for both stores (directory; S3 on moto's server) and both databases (SQLite;
PostgreSQL on this machine)."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fixtures.hub import ServiceProcess, clean_env
from fixtures.postgres import scratch_database
from fixtures.s3 import make_s3_store
from notebooks import make_notebook, notebook_json

from jupyterhub_templates.stores.base import TemplateStore
from jupyterhub_templates.stores.directory import DirectoryTemplateStore

MAX_UPLOAD = 300_000
COMBOS = ["directory-sqlite", "directory-postgres", "s3-sqlite", "s3-postgres"]


class Api(ServiceProcess):
    """The running service plus a handle on its store, to check what it wrote."""

    store: TemplateStore
    kind: str

    def upload(
        self, user: str | None, file_name: str, category: str, data: bytes, **fields: Any
    ) -> requests.Response:
        form = {
            "category": category,
            **{k: str(v).lower() if isinstance(v, bool) else v for k, v in fields.items()},
        }
        return self.request(
            "POST",
            "minio/upload-template",
            user,
            files={"file": (file_name, data, "application/x-ipynb+json")},
            data=form,
        )

    def names(self, user: str = "alice", **params: Any) -> list[str]:
        r = self.request("GET", "minio/list-templates", user, params={"limit": 1000, **params})
        assert r.status_code == 200, r.text
        return [t["name"] for t in r.json()["templates"]]

    def stored_keys(self) -> set[str]:
        return {o.key for o in self.store.list()}

    def sync(self, *args: str) -> subprocess.CompletedProcess:
        env = clean_env()
        env.update(self.env)
        return subprocess.run(
            [sys.executable, "-m", "jupyterhub_templates.service", "sync", *args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(scope="module", params=COMBOS)
def api(request: pytest.FixtureRequest, hub, moto_server, tmp_path_factory) -> Iterator[Api]:
    store_kind, db_kind = request.param.split("-")
    workdir = tmp_path_factory.mktemp(request.param)
    env: dict[str, str] = {}
    with contextlib_exit() as stack:
        if db_kind == "sqlite":
            env["JUPYTERHUB_TEMPLATES_DB_URL"] = f"sqlite:///{workdir / 'templates.sqlite'}"
        else:
            env["JUPYTERHUB_TEMPLATES_DB_URL"] = stack.enter_context(scratch_database())
        if store_kind == "directory":
            env["JUPYTERHUB_TEMPLATES_STORE"] = "directory"
            env["JUPYTERHUB_TEMPLATES_STORE_DIR"] = str(workdir / "store")
            store: TemplateStore = DirectoryTemplateStore(root=str(workdir / "store"))
        else:
            if not moto_server.running:
                moto_server.start()
            bucket = f"templates-{uuid.uuid4().hex[:12]}"
            env.update(
                JUPYTERHUB_TEMPLATES_STORE="s3",
                JUPYTERHUB_TEMPLATES_S3_ENDPOINT=moto_server.endpoint,
                JUPYTERHUB_TEMPLATES_S3_ACCESS_KEY=moto_server.access_key,
                JUPYTERHUB_TEMPLATES_S3_SECRET_KEY=moto_server.secret_key,
                JUPYTERHUB_TEMPLATES_S3_BUCKET=bucket,
            )
            store = make_s3_store(moto_server, bucket=bucket)
        service = Api(hub, env, workdir)
        service.store = store
        service.kind = request.param
        service.start([f"--Catalog.max_upload_bytes={MAX_UPLOAD}"])
        stack.callback(service.stop)
        yield service


def contextlib_exit():
    import contextlib

    return contextlib.ExitStack()


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# -- upload, read, list ------------------------------------------------------------


def test_admin_uploads_and_user_reads(api: Api) -> None:
    category = unique("ml")
    data = make_notebook()
    r = api.upload(
        "admin",
        "automl_template.ipynb",
        category,
        data,
        description="AutoML classification template",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    name = f"{category}/automl_template.ipynb"
    assert body["status"] == "success"
    assert body["template_name"] == name
    assert body["version"] == 1
    assert body["template"]["uploader"] == "admin"
    assert body["template"]["size"] == len(data)
    assert body["template"]["kernel_name"] == "python3"
    assert {name, f".versions/{name}/1.ipynb"} <= api.stored_keys()
    assert api.store.get(name) == data

    r = api.request("GET", "minio/list-templates", "alice", params={"category": category})
    assert r.status_code == 200
    [item] = r.json()["templates"]
    assert item["name"] == name
    assert item["category"] == category
    assert item["description"] == "AutoML classification template"
    assert item["version"] == 1
    assert item["size"] == len(data)
    assert item["last_modified"].endswith("Z")
    params = {p["name"]: p for p in item["parameters"]}
    assert list(params) == [
        "dataset_path",
        "n_estimators",
        "learning_rate",
        "use_gpu",
        "models",
        "options",
    ]
    assert params["dataset_path"] == {
        "name": "dataset_path",
        "type": "str",
        "annotation": "str",
        "default": '"/data/train.csv"',
        "default_value": "/data/train.csv",
        "help": "CSV file to train on",
        "secret": False,
    }
    assert params["n_estimators"]["type"] == "int"
    assert params["n_estimators"]["default_value"] == 100
    assert params["learning_rate"]["type"] == "float"  # from the literal: no annotation
    assert params["use_gpu"]["type"] == "bool"
    assert params["models"]["type"] == "list"
    assert params["options"]["type"] == "dict"

    r = api.request("GET", f"minio/get-template/{name}", "bob", params={"content": "true"})
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["name"] == name
    assert [v["version"] for v in detail["versions"]] == [1]
    assert detail["content"] == notebook_json(data)
    r = api.request("GET", f"minio/get-template/{name}", "bob")
    assert "content" not in r.json()


def test_member_of_template_admins_group_may_upload(api: Api) -> None:
    r = api.upload("carol", "x.ipynb", unique("g"), make_notebook())
    assert r.status_code == 201, r.text
    assert r.json()["template"]["uploader"] == "carol"


def test_user_cannot_upload_or_delete(api: Api) -> None:
    category = unique("sec")
    assert api.upload("admin", "keep.ipynb", category, make_notebook()).status_code == 201
    before = api.stored_keys()
    r = api.upload("alice", "evil.ipynb", category, make_notebook())
    assert r.status_code == 403
    assert r.json()["status"] == "error"
    assert "custom:templates:admin" in r.json()["message"]
    r = api.upload("alice", "keep.ipynb", category, make_notebook(body="1"), overwrite=True)
    assert r.status_code == 403
    r = api.request("DELETE", f"minio/delete-template/{category}/keep.ipynb", "alice")
    assert r.status_code == 403
    assert api.stored_keys() == before
    assert api.names(category=category) == [f"{category}/keep.ipynb"]
    r = api.request("GET", f"minio/get-template/{category}/keep.ipynb", "alice")
    assert r.json()["version"] == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "minio/list-templates"),
        ("GET", "minio/list-categories"),
        ("GET", "minio/get-template/ml/a.ipynb"),
        ("DELETE", "minio/delete-template/ml/a.ipynb"),
        ("GET", "minio/download-url/ml/a.ipynb"),
        ("POST", "minio/upload-template"),
        ("GET", ""),
    ],
)
def test_no_token_gets_403_json(api: Api, method: str, path: str) -> None:
    r = api.request(method, path)
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["status"] == "error"
    r = api.request(method, path, token="not-a-real-token")
    assert r.status_code == 403


def test_overwrite_makes_versions(api: Api) -> None:
    category = unique("v")
    name = f"{category}/nb.ipynb"
    v1 = make_notebook(body="print(1)")
    v2 = make_notebook("alpha = 1  # the alpha", body="print(2)")
    assert api.upload("admin", "nb.ipynb", category, v1, description="first").status_code == 201
    r = api.upload("admin", "nb.ipynb", category, v2, description="second")
    assert r.status_code == 409
    assert "overwrite" in r.json()["message"]
    assert api.store.get(name) == v1
    r = api.upload("admin", "nb.ipynb", category, v2, description="second", overwrite=True)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert api.store.get(name) == v2

    detail = api.request("GET", f"minio/get-template/{name}", "alice").json()
    assert detail["version"] == 2
    assert detail["current_version"] == 2
    assert detail["description"] == "second"
    assert [p["name"] for p in detail["parameters"]] == ["alpha"]
    assert [(v["version"], v["description"]) for v in detail["versions"]] == [
        (1, "first"),
        (2, "second"),
    ]
    old = api.request(
        "GET", f"minio/get-template/{name}", "alice", params={"version": 1, "content": "true"}
    ).json()
    assert old["version"] == 1
    assert old["current_version"] == 2
    assert old["description"] == "first"
    assert len(old["parameters"]) == 6
    assert old["content"] == notebook_json(v1)
    r = api.request("GET", f"minio/get-template/{name}", "alice", params={"version": 3})
    assert r.status_code == 404
    # list shows the current version only
    [item] = api.request(
        "GET", "minio/list-templates", "alice", params={"category": category}
    ).json()["templates"]
    assert item["version"] == 2


def test_concurrent_uploads_of_one_new_name(api: Api) -> None:
    category = unique("race")
    data = make_notebook()

    def upload(i: int) -> int:
        return api.upload("admin", "same.ipynb", category, data, description=str(i)).status_code

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(upload, range(2)))
    assert codes == [201, 409]
    detail = api.request("GET", f"minio/get-template/{category}/same.ipynb", "alice").json()
    assert [v["version"] for v in detail["versions"]] == [1]
    assert api.stored_keys() >= {
        f"{category}/same.ipynb",
        f".versions/{category}/same.ipynb/1.ipynb",
    }
    assert f".versions/{category}/same.ipynb/2.ipynb" not in api.stored_keys()


# -- bad input ---------------------------------------------------------------------

BAD_FILENAMES = [
    "notebook.txt",
    "notebook",
    "../escape.ipynb",
    "..ipynb",
    "a..b.ipynb",
    "/abs.ipynb",
    "dir/nested.ipynb",
    "back\\slash.ipynb",
    "ctrl\x07.ipynb",
    "new\nline.ipynb",
    "nul\x00.ipynb",
    "fullwidth\uff0fslash.ipynb",
    "\u2025.ipynb",
    ".hidden.ipynb",
    "x" * 250 + ".ipynb",
]
BAD_CATEGORIES = ["", "a/b", "..", ".", "a b", "ml/../x", "%2e%2e", "ml\\x", "é", "x" * 65]


def test_bad_filenames_are_refused(api: Api) -> None:
    before = api.stored_keys()
    category = unique("bad")
    for filename in BAD_FILENAMES:
        r = api.upload("admin", "placeholder.ipynb", category, make_notebook(), filename=filename)
        assert r.status_code == 400, (filename, r.status_code, r.text)
        assert r.json()["status"] == "error"
    assert api.stored_keys() == before
    assert api.names(category=category) == []


def test_bad_categories_are_refused(api: Api) -> None:
    before = api.stored_keys()
    for category in BAD_CATEGORIES:
        r = api.upload("admin", "fine.ipynb", category, make_notebook())
        assert r.status_code == 400, (category, r.text)
    assert api.stored_keys() == before


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"not json at all", "not valid JSON"),
        (b'{"cells": "nope"}', "not"),
        (
            b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, '
            b'"cells": [{"cell_type": "bogus"}]}',
            "invalid",
        ),
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b"[]", "not"),
    ],
)
def test_bad_content_is_refused(api: Api, data: bytes, fragment: str) -> None:
    category = unique("bc")
    before = api.stored_keys()
    r = api.upload("admin", "x.ipynb", category, data)
    assert r.status_code == 400, r.text
    assert fragment.lower() in r.json()["message"].lower()
    assert api.stored_keys() == before
    assert api.names(category=category) == []


def test_oversized_upload_gets_413_and_nothing_is_stored(api: Api) -> None:
    category = unique("big")
    before = api.stored_keys()
    big = make_notebook(padding=MAX_UPLOAD + 10)
    r = api.upload("admin", "big.ipynb", category, big)
    assert r.status_code == 413, r.text
    assert r.json()["status"] == "error"
    # far over the limit: refused from Content-Length, the body dropped unread
    huge = make_notebook(padding=4 * MAX_UPLOAD)
    r = api.upload("admin", "huge.ipynb", category, huge)
    assert r.status_code == 413
    # a refused user with a large body gets the 403, not a reset connection
    r = api.upload("alice", "big.ipynb", category, big)
    assert r.status_code == 403
    assert api.stored_keys() == before
    assert api.names(category=category) == []


def test_upload_form_errors(api: Api) -> None:
    r = api.request("POST", "minio/upload-template", "admin", data={"category": "ml"})
    assert r.status_code == 400
    r = api.request(
        "POST", "minio/upload-template", "admin", files={"file": ("a.ipynb", make_notebook())}
    )
    assert r.status_code == 400
    assert "category" in r.json()["message"]
    r = api.request("POST", "minio/upload-template", "admin", json={"category": "ml"})
    assert r.status_code == 400
    r = api.upload("admin", "a.ipynb", "ml", make_notebook(), overwrite="maybe")
    assert r.status_code == 400


def test_bad_names_in_paths(api: Api) -> None:
    for path in [
        "minio/get-template/..%2Fetc%2Fpasswd",
        "minio/get-template/ml",
        "minio/get-template/ml/..%2F..%2Fx.ipynb",
        "minio/get-template/%2Fml%2Fa.ipynb",
        "minio/download-url/ml%5Ca.ipynb",
        "minio/get-template/ml/a.txt",
    ]:
        r = api.request("GET", path, "alice")
        assert r.status_code in (400, 404), (path, r.status_code)
        assert r.json()["status"] == "error"
    r = api.request("GET", "minio/get-template/nosuch/thing.ipynb", "alice")
    assert r.status_code == 404
    r = api.request("DELETE", "minio/delete-template/nosuch/thing.ipynb", "admin")
    assert r.status_code == 404


# -- listing -----------------------------------------------------------------------


def test_listing_filter_search_sort_paginate(api: Api) -> None:
    c1, c2 = unique("la"), unique("lb")
    for i, (cat, fname, desc, pad) in enumerate(
        [
            (c1, "alpha.ipynb", "Gradient boosting on tabular data", 0),
            (c1, "beta.ipynb", "Forecasting", 2000),
            (c1, "gamma.ipynb", "Clustering 100% of_points", 100),
            (c2, "delta.ipynb", "gradient descent notes", 50),
        ]
    ):
        r = api.upload("admin", fname, cat, make_notebook(padding=pad), description=desc)
        assert r.status_code == 201, (i, r.text)
    assert api.names(category=c1) == [f"{c1}/alpha.ipynb", f"{c1}/beta.ipynb", f"{c1}/gamma.ipynb"]
    # search is case-insensitive, over name and description, across categories
    found = api.names(q="GRADIENT")
    assert f"{c1}/alpha.ipynb" in found and f"{c2}/delta.ipynb" in found
    assert api.names(q="gradient", category=c2) == [f"{c2}/delta.ipynb"]
    assert api.names(q="gamma", category=c1) == [f"{c1}/gamma.ipynb"]
    # LIKE wildcards in the search text are literal
    assert api.names(q="100%", category=c1) == [f"{c1}/gamma.ipynb"]
    assert api.names(q="of_p", category=c1) == [f"{c1}/gamma.ipynb"]
    assert api.names(q="%", category=c2) == []
    # sort and order
    assert api.names(category=c1, sort="name", order="desc")[0] == f"{c1}/gamma.ipynb"
    assert api.names(category=c1, sort="size", order="desc")[0] == f"{c1}/beta.ipynb"
    # pagination
    r = api.request(
        "GET", "minio/list-templates", "alice", params={"category": c1, "limit": 2, "offset": 1}
    )
    page = r.json()
    assert page["total"] == 3
    assert page["count"] == 2
    assert [t["name"] for t in page["templates"]] == [f"{c1}/beta.ipynb", f"{c1}/gamma.ipynb"]
    # categories
    cats = {
        c["name"]: c["count"]
        for c in api.request("GET", "minio/list-categories", "bob").json()["categories"]
    }
    assert cats[c1] == 3 and cats[c2] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 100000},
        {"limit": "x"},
        {"offset": -1},
        {"sort": "evil"},
        {"order": "sideways"},
        {"category": "../x"},
        {"q": "x" * 300},
    ],
)
def test_listing_bad_parameters(api: Api, params: dict) -> None:
    r = api.request("GET", "minio/list-templates", "alice", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["status"] == "error"


# -- download URLs -----------------------------------------------------------------


def test_download_url(api: Api) -> None:
    category = unique("dl")
    data = make_notebook()
    assert api.upload("admin", "d.ipynb", category, data).status_code == 201
    r = api.request("GET", f"minio/download-url/{category}/d.ipynb", "alice")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1
    assert body["expires_in"] == 3600
    got = requests.get(body["url"], timeout=30)  # no token: the URL is the credential
    assert got.status_code == 200
    assert got.content == data
    if api.kind.startswith("directory"):
        assert body["url"].startswith(api.url + "minio/download/")
        bad = body["url"].replace("signature=", "signature=0")
        assert requests.get(bad, timeout=30).status_code == 403
        other = body["url"].replace("version=1", "version=2")
        assert requests.get(other, timeout=30).status_code == 403
        asked = time.time()
        short = api.request(
            "GET", f"minio/download-url/{category}/d.ipynb", "alice", params={"expires": 1}
        ).json()
        # a one-second URL: whether it still works when fetched depends on how busy the
        # machine is, so only its expiry is checked, once its time has passed
        expires = int(parse_qs(urlsplit(short["url"]).query)["expires"][0])
        assert asked <= expires <= time.time() + 2, (asked, expires)
        while time.time() <= expires + 1:  # at most about two seconds
            time.sleep(0.1)
        expired = requests.get(short["url"], timeout=30)
        assert expired.status_code == 403
        assert "expired" in expired.json()["message"]
    else:
        assert "X-Amz-Signature=" in body["url"]
        assert "X-Amz-Expires=3600" in body["url"]
    # an old version stays downloadable
    assert (
        api.upload(
            "admin", "d.ipynb", category, make_notebook(body="2"), overwrite=True
        ).status_code
        == 200
    )
    r = api.request("GET", f"minio/download-url/{category}/d.ipynb", "alice", params={"version": 1})
    assert requests.get(r.json()["url"], timeout=30).content == data


# -- delete ------------------------------------------------------------------------


def test_admin_deletes_template_and_all_versions(api: Api) -> None:
    category = unique("del")
    name = f"{category}/gone.ipynb"
    assert api.upload("admin", "gone.ipynb", category, make_notebook()).status_code == 201
    assert (
        api.upload(
            "admin", "gone.ipynb", category, make_notebook(body="2"), overwrite=True
        ).status_code
        == 200
    )
    r = api.request("DELETE", f"minio/delete-template/{name}", "admin")
    assert r.status_code == 200, r.text
    assert r.json()["deleted_versions"] == 2
    assert api.request("GET", f"minio/get-template/{name}", "alice").status_code == 404
    assert not [k for k in api.stored_keys() if category in k]
    assert api.names(category=category) == []
    # the name can be used again, starting over at version 1
    r = api.upload("admin", "gone.ipynb", category, make_notebook())
    assert r.status_code == 201
    assert r.json()["version"] == 1


# -- sync --------------------------------------------------------------------------


def test_sync_adds_updates_and_removes(api: Api) -> None:
    category = unique("sync")
    outside = make_notebook("k = 3  # put there with an S3 client")
    api.store.put(f"{category}/outside.ipynb", outside)
    api.store.put(f"{category}/broken.ipynb", b"{nope")
    api.store.put(f"{category}/readme.txt", b"hello")
    assert api.upload("admin", "mine.ipynb", category, make_notebook()).status_code == 201

    dry = api.sync("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f'"{category}/outside.ipynb"' in dry.stdout
    assert api.names(category=category) == [f"{category}/mine.ipynb"]

    done = api.sync()
    assert done.returncode == 0, done.stderr
    assert f"{category}/broken.ipynb" in done.stdout  # reported as ignored
    assert api.names(category=category) == [f"{category}/mine.ipynb", f"{category}/outside.ipynb"]
    detail = api.request("GET", f"minio/get-template/{category}/outside.ipynb", "alice").json()
    assert detail["parameters"][0]["name"] == "k"
    assert detail["uploader"] == "sync"

    # changed in the store → new version; removed from the store → gone
    api.store.put(f"{category}/outside.ipynb", make_notebook("k = 4"))
    api.store.delete(f"{category}/mine.ipynb")
    assert api.sync().returncode == 0
    assert api.names(category=category) == [f"{category}/outside.ipynb"]
    detail = api.request("GET", f"minio/get-template/{category}/outside.ipynb", "alice").json()
    assert detail["version"] == 2
    assert not [k for k in api.stored_keys() if k.startswith(f".versions/{category}/mine")]
    # nothing left to do
    again = api.sync("--dry-run")
    assert f'"{category}/' not in again.stdout.split('"ignored"')[0]


# -- health and misc ---------------------------------------------------------------


def test_health_needs_no_auth(api: Api) -> None:
    r = requests.get(api.url + "health", timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["store"]["kind"] == api.kind.split("-")[0]


def test_unknown_route_is_404_json(api: Api) -> None:
    r = api.request("GET", "no/such/route", "alice")
    assert r.status_code == 404
    assert r.json()["status"] == "error"


def test_root_tells_who_you_are(api: Api) -> None:
    me = api.request("GET", "", "carol").json()
    assert me["user"] == "carol" and me["templates_admin"] is True
    me = api.request("GET", "", "alice").json()
    assert me["templates_admin"] is False
    # a browser without a session is sent to the Hub's OAuth login
    r = requests.get(
        api.url,
        headers={"Accept": "text/html", "Sec-Fetch-Mode": "navigate"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302
    assert "/hub/api/oauth2/authorize" in r.headers["Location"]


def test_service_log_has_no_tokens(api: Api) -> None:
    api.request("GET", "minio/list-templates", "alice", params={"token": api.hub.tokens["bob"]})
    text = Path(api.log).read_text()
    for token in [*api.hub.tokens.values(), api.hub.service_token]:
        assert token not in text


def strict_json(text: str) -> Any:
    """JSON as a browser parses it: NaN and Infinity are errors."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_defaults_keep_every_answer_json(api: Api) -> None:
    """One template whose defaults overflow to infinity must not break the listing for
    everyone: every answer stays JSON; such a default is null in ``default_value``, its
    source text in ``default``, its type still inferred."""
    params = "threshold = 1e999  # no limit\nbounds = [-1e999, 1e999]\nratio = 0.5\n"
    r = api.upload("carol", "infinite.ipynb", "finite", make_notebook(params, body="print(1)"))
    assert r.status_code in (200, 201), r.text
    strict_json(r.text)
    answers = [
        api.request("GET", "minio/list-templates", "alice"),
        api.request("GET", "minio/list-templates", "alice", params={"category": "finite"}),
        api.request("GET", "minio/get-template/finite/infinite.ipynb", "alice"),
        api.request(
            "GET", "minio/get-template/finite/infinite.ipynb", "alice", params={"content": "1"}
        ),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        strict_json(answer.text)
    template = strict_json(answers[2].text)["template"]
    by_name = {p["name"]: p for p in template["parameters"]}
    assert by_name["threshold"]["default"] == "1e999"
    assert by_name["threshold"]["default_value"] is None
    assert by_name["threshold"]["type"] == "float"
    assert by_name["bounds"]["default_value"] is None
    assert by_name["bounds"]["type"] == "list"
    assert by_name["ratio"]["default_value"] == 0.5
    assert api.request("DELETE", "minio/delete-template/finite/infinite.ipynb", "carol").ok
