"""Hostile input against a real JupyterHub, real single-user servers
with the server extension, and the service as its own process (SQLite, directory store).

Every case asserts a 4xx JSON error with a message, then that nothing changed: no
template added or removed, no notebook or execution record, and no file added, changed
or removed anywhere in the Hub's scratch folder (which holds every user's root, the
folders the symlinks point at, and the service's store).

Already covered elsewhere, not repeated here: ``..``, absolute, backslash, NUL,
fullwidth-dot, hidden and ``~`` values of ``target_directory``/``new_name`` and one
hostile parameter value run in a kernel (``tests/test_notebooks_api.py``); bad upload
file names and categories, bad notebook contents, 413, form errors and encoded names in
catalog URLs (``tests/test_catalog_api.py``); parameter name and value rules and the
rendering of hostile strings (``tests/test_unit_parameters.py``).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from fixtures.hub import Hub, ServiceProcess
from notebooks import make_notebook

MAX_UPLOAD = 200_000
TEMPLATE = "hostile/echo.ipynb"
#: the parameters the echo template declares; its last cell prints them as JSON
ECHO_NAMES = [f"s{i}" for i in range(20)] + ["as_list", "as_dict"]
ECHO_BODY = (
    f"import json\nprint('BEGIN' + json.dumps({{k: globals()[k] for k in {ECHO_NAMES!r}}}) + 'END')"
)
#: files the Hub and its servers change on their own while the tests run
NOISE = ("jupyterhub.sqlite", "jupyterhub-proxy.pid", "service.log", "templates.sqlite")


# -- fixtures and state ----------------------------------------------------------------


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    # the service's store and database live in the Hub's folder, inside the snapshot
    workdir = hub.dir / "hostile-service"
    workdir.mkdir(exist_ok=True)
    service = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": f"sqlite:///{workdir / 'templates.sqlite'}",
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(workdir / "store"),
        },
        workdir,
    )
    service.start([f"--Catalog.max_upload_bytes={MAX_UPLOAD}"])
    params = "\n".join(f's{i} = ""' for i in range(20)) + "\nas_list = []\nas_dict = {}\n"
    service.publish(TEMPLATE, make_notebook(params, body=ECHO_BODY))
    # alice's server runs, with a notebook of her own to aim at
    r = service.request(
        "POST",
        "create-from-template",
        "alice",
        json={"template_name": TEMPLATE, "new_name": "mine"},
    )
    assert r.status_code == 201, r.text
    yield service
    service.stop()


@pytest.fixture(scope="module")
def links(hub: Hub, svc: ServiceProcess) -> Path:
    """Symlinks in alice's root pointing out of it (and one pointing inside), as a user
    could make them in a terminal of her own server."""
    root = hub.user_dir("alice")
    victim = hub.dir / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "victim.ipynb").write_bytes(make_notebook(body="print('victim')"))
    (victim / "run.ipynb").write_bytes(make_notebook(body="print('run')"))
    hub.user_dir("bob").mkdir(parents=True, exist_ok=True)
    for name, target in {
        "outside": victim,
        "bobs": hub.user_dir("bob"),
        "linked.ipynb": victim / "victim.ipynb",
        "dangling.ipynb": victim / "not-yet.ipynb",
        "loop": root / "loop",
        "alias": root / "projects",
    }.items():
        if not (root / name).is_symlink():
            (root / name).symlink_to(target)
    (root / "projects").mkdir(exist_ok=True)
    return root


def tree(top: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under ``top`` (symlinks not followed): kind, size, mtime."""
    found: dict[str, tuple[str, int, int]] = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if name.startswith(NOISE) or name.endswith(".log"):
                continue
            st = os.lstat(path)
            kind = "link" if os.path.islink(path) else ("dir" if name in dirs else "file")
            if kind == "dir":  # a folder's own mtime moves with the SQLite journals
                found[os.path.relpath(path, top)] = (kind, 0, 0)
            else:
                found[os.path.relpath(path, top)] = (kind, st.st_size, st.st_mtime_ns)
    return found


def state(hub: Hub, svc: ServiceProcess) -> dict[str, Any]:
    """Files around every user's root, the catalog, notebook and execution records."""
    templates = svc.request("GET", "minio/list-templates", "alice", params={"limit": 500})
    notebooks = svc.request("GET", "notebooks", "admin", params={"all": "true", "limit": 500})
    executions = svc.request("GET", "executions", "admin", params={"all": "true", "limit": 500})
    return {
        "files": tree(hub.dir),
        "templates": sorted((t["name"], t.get("version")) for t in templates.json()["templates"]),
        "notebooks": sorted(n["id"] for n in notebooks.json()["notebooks"]),
        "executions": sorted(e["execution_id"] for e in executions.json()["executions"]),
    }


def assert_refused(r: requests.Response, *codes: int) -> dict[str, Any]:
    assert r.status_code in codes, (r.status_code, r.text[:500])
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert body["status"] == "error"
    assert isinstance(body["message"], str) and body["message"].strip()
    return body


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after["templates"] == before["templates"]
    assert after["notebooks"] == before["notebooks"]
    assert after["executions"] == before["executions"]
    if after["files"] != before["files"]:
        changed = {
            k
            for k in before["files"].keys() | after["files"].keys()
            if before["files"].get(k) != after["files"].get(k)
        }
        pytest.fail(f"files changed: {sorted(changed)}")


# -- paths in JSON bodies ----------------------------------------------------------------

BAD_PATHS = [
    "../x.ipynb",
    "a/../../x.ipynb",
    "/etc/x.ipynb",
    "//etc/x.ipynb",
    "~root/x.ipynb",
    "..\\x.ipynb",
    "a\\..\\..\\x.ipynb",
    "x\x00.ipynb",
    "a/\x00/x.ipynb",
    "\uff0e\uff0e/x.ipynb",  # fullwidth full stops
    "\u2024\u2024/x.ipynb",  # one-dot leaders: NFKC makes them '..'
    "\u2025/x.ipynb",  # two-dot leader
    "a\uff0f..\uff0fx.ipynb",  # fullwidth solidus
    "\u202ex.ipynb",  # right-to-left override
    "x\u200b/../../y.ipynb",
    "line\nbreak.ipynb",
    "\ud800.ipynb",  # lone surrogate (valid JSON escape, not encodable)
    "x" * 300 + ".ipynb",
    "a/" * 600 + "x.ipynb",
    ".hidden/x.ipynb",
    " x.ipynb",
]
BAD_TEMPLATE_NAMES = [
    "../hostile/echo.ipynb",
    "hostile/../../x.ipynb",
    "/hostile/echo.ipynb",
    "hostile\\echo.ipynb",
    "hostile/echo\x00.ipynb",
    "%2e%2e/echo.ipynb",
    "hostile/%2e%2e%2fecho.ipynb",
    "hostile/\uff0e\uff0e.ipynb",
    "hostile/echo\ud800.ipynb",
    "h" * 70 + "/echo.ipynb",
    "hostile/" + "e" * 300 + ".ipynb",
    "hostile",
]


def path_cases() -> list[Any]:
    cases = []
    for value in BAD_PATHS:
        for route, field in [
            ("execute-notebook", "notebook_path"),
            ("execute-notebook", "output_path"),
            ("execute", "notebook_path"),
            ("submit-notebook", "notebook_path"),
            ("put-notebook", "notebook_path"),
            ("create-from-template", "target_directory"),
        ]:
            cases.append(pytest.param(route, field, value, id=f"{route}-{field}-{value[:20]!r}"))
    for value in BAD_TEMPLATE_NAMES:
        cases.append(pytest.param("create-from-template", "template_name", value, id=repr(value)))
    return cases


def send(svc: ServiceProcess, route: str, body: dict[str, Any], user: str = "alice") -> Any:
    if route == "put-notebook":
        nid = svc.request("GET", "notebooks", user).json()["notebooks"][0]["id"]
        return svc.request("PUT", f"notebook/{nid}", user, json=body)
    if route == "create-from-template":
        body = {"template_name": TEMPLATE, "new_name": "hostile", **body}
    elif "notebook_path" not in body:
        default = "rec.ipynb" if route == "submit-notebook" else "mine.ipynb"
        body = {"notebook_path": default, **body}
    return svc.request("POST", route, user, json=body)


@pytest.mark.parametrize(("route", "field", "value"), path_cases())
def test_bad_paths_in_bodies(
    hub: Hub, svc: ServiceProcess, route: str, field: str, value: str
) -> None:
    before = state(hub, svc)
    r = send(svc, route, {field: value})
    body = assert_refused(r, 400)
    if field != "template_name":  # those name the part at fault (category or file name)
        assert field in body["message"], body
    assert_unchanged(before, state(hub, svc))


def test_encoded_dots_in_bodies_are_literal_names(hub: Hub, svc: ServiceProcess) -> None:
    """JSON fields are never URL-decoded: ``%2e%2e`` is a folder of that name, inside
    the root, and the service quotes it on its way to the contents API."""
    before = tree(hub.dir)
    r = send(svc, "create-from-template", {"target_directory": "%2e%2e/%2F", "new_name": "enc"})
    assert r.status_code == 201, r.text
    assert r.json()["new_notebook_path"] == "%2e%2e/%2F/enc.ipynb"
    created = set(tree(hub.dir)) - set(before)
    folder = os.path.relpath(hub.user_dir("alice"), hub.dir) + "/%2e%2e"
    assert {folder, f"{folder}/%2F", f"{folder}/%2F/enc.ipynb"} <= created
    # besides them only the contents manager's checkpoint of the new notebook
    assert all(
        p.startswith(folder + "/%2F/.ipynb_checkpoints")
        for p in created - {folder, f"{folder}/%2F", f"{folder}/%2F/enc.ipynb"}
    ), created


# -- paths in URLs -----------------------------------------------------------------------

INVALID_UTF8 = ("%C0%AE", "%ED%A0%80")
URL_NAMES = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/x.ipynb",
    "hostile/%2e%2e%2f%2e%2e%2fx.ipynb",
    "hostile%2f..%2f..%2fx.ipynb",
    "hostile/echo%00.ipynb",
    "hostile/echo.ipynb%00",
    "%2Fhostile%2Fecho.ipynb",
    "hostile%5C..%5Cecho.ipynb",
    "hostile/%EF%BC%8E%EF%BC%8E.ipynb",
    "%C0%AE%C0%AE/echo.ipynb",  # overlong UTF-8 for '.'
    "hostile/%ED%A0%80.ipynb",  # encoded surrogate: invalid UTF-8
    "hostile/" + "e" * 300 + ".ipynb",
    "hostile/echo.ipynb%0A",
]


def logged_errors(svc: ServiceProcess) -> int:
    """ERROR (and CRITICAL) lines in the service's log so far. A health request first:
    the service answers it only after it has finished with every earlier request."""
    requests.get(svc.direct_url + "health", timeout=30)
    return sum(line.startswith(("[E", "[C")) for line in svc.log.read_text().splitlines())


def url_request(
    svc: ServiceProcess, method: str, path: str, user: str | None, **kwargs: Any
) -> requests.Response:
    """Through the proxy, except paths that are not UTF-8 once decoded: those never
    reach the service that way (the proxy cannot route them and JupyterHub answers its
    own 500 page), so they go to the service directly."""
    if not any(bad in path.upper() for bad in INVALID_UTF8):
        return svc.request(method, path, user, **kwargs)
    headers = {"Authorization": f"token {svc.hub.tokens[user]}"} if user else {}
    return requests.request(method, svc.direct_url + path, headers=headers, timeout=60, **kwargs)


@pytest.mark.parametrize("name", URL_NAMES)
@pytest.mark.parametrize(
    ("method", "route", "user"),
    [
        ("GET", "minio/get-template/", "alice"),
        ("GET", "minio/download-url/", "alice"),
        ("DELETE", "minio/delete-template/", "carol"),
        ("GET", "minio/download/", None),
    ],
)
def test_bad_names_in_urls(
    hub: Hub, svc: ServiceProcess, method: str, route: str, user: str | None, name: str
) -> None:
    before, errors = state(hub, svc), logged_errors(svc)
    query = "?expires=9999999999&signature=00" if user is None else ""
    r = url_request(svc, method, route + name + query, user)
    assert_refused(r, 400, 403, 404)
    assert_unchanged(before, state(hub, svc))
    assert logged_errors(svc) == errors  # a refusal, not an error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        (method, f"notebook/{raw}")
        for method in ("GET", "PUT", "DELETE")
        for raw in ("..%2F1", "%2e%2e", "1%00", "%EF%BC%91", "1e3", "%ED%A0%80")
    ]
    + [
        ("GET", "execution-status/%2e%2e%2f1"),
        ("GET", "execution-status/%EF%BC%91"),
        ("GET", "execution/%00/log"),
        ("POST", "execution/..%2F1/cancel"),
    ],
)
def test_bad_ids_in_urls(hub: Hub, svc: ServiceProcess, method: str, path: str) -> None:
    before, errors = state(hub, svc), logged_errors(svc)
    body = {"description": "x"} if method == "PUT" else None
    assert_refused(url_request(svc, method, path, "alice", json=body), 400, 404)
    assert_unchanged(before, state(hub, svc))
    assert logged_errors(svc) == errors  # a refusal, not an error


# -- symlinks inside the user's root -------------------------------------------------------


OUT = "outside the server's root"  # the contents hook
IN = "outside the server root"  # the executor
SYMLINK_CASES = [
    # (route, body, status, a fragment of the message)
    ("create-from-template", {"target_directory": "outside", "new_name": "x"}, 403, OUT),
    ("create-from-template", {"target_directory": "outside/a/b", "new_name": "x"}, 403, OUT),
    ("create-from-template", {"target_directory": "bobs", "new_name": "from-alice"}, 403, OUT),
    ("create-from-template", {"new_name": "linked", "overwrite": True}, 403, OUT),
    ("create-from-template", {"new_name": "dangling", "overwrite": True}, 403, OUT),
    ("create-from-template", {"new_name": "dangling"}, 409, "already exists"),
    ("create-from-template", {"target_directory": "loop", "new_name": "x"}, 400, "loop; refused"),
    ("execute-notebook", {"notebook_path": "outside/run.ipynb"}, 400, IN),
    ("execute-notebook", {"notebook_path": "bobs/any.ipynb"}, 400, IN),
    ("execute-notebook", {"output_path": "outside/out.ipynb"}, 400, IN),
    ("execute-notebook", {"output_path": "dangling.ipynb"}, 400, IN),
    ("execute-notebook", {"output_path": "loop/out.ipynb"}, 400, "output_path"),
    ("execute", {"notebook_path": "outside/run.ipynb"}, 400, IN),
    ("execute", {"notebook_path": "linked.ipynb"}, 400, IN),
    ("execute", {"notebook_path": "loop/x.ipynb"}, 404, "no notebook"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("route", "body", "status", "fragment"),
    [
        c if type(c) is not tuple else pytest.param(*c, id=f"{c[0]}-{json.dumps(c[1])[:60]}")
        for c in SYMLINK_CASES
    ],
)
def test_symlinks_out_of_the_root_are_refused(
    hub: Hub,
    svc: ServiceProcess,
    links: Path,
    route: str,
    body: dict,
    status: int,
    fragment: str,
) -> None:
    before = state(hub, svc)
    victim = (hub.dir / "victim" / "victim.ipynb").read_bytes()
    if route != "create-from-template":
        body = {**body, "kernel_name": "python3"}
    message = assert_refused(send(svc, route, body), status)["message"]
    assert fragment in message, message
    assert (hub.dir / "victim" / "victim.ipynb").read_bytes() == victim
    assert_unchanged(before, state(hub, svc))


def test_symlinks_inside_the_root_still_work(hub: Hub, svc: ServiceProcess, links: Path) -> None:
    """The control: a link to a folder inside the root is followed, so the check above
    refuses by where a path leads, not because it has a link on the way."""
    r = send(svc, "create-from-template", {"target_directory": "alias", "new_name": "via"})
    assert r.status_code == 201, r.text
    assert (links / "projects" / "via.ipynb").is_file()


# -- parameters ----------------------------------------------------------------------------

HOSTILE_VALUES = [
    'it\'s "quoted"',
    '"""triple"""',
    "'''triple'''",
    "line1\nline2\r\nline3",
    "back\\slash\\",
    "\\",
    '\\"',
    "\\n literally",
    '"); import os; os.system("touch PWNED")#',
    "'); import os; os.system('touch PWNED')#",
    '" + __import__("os").system("touch PWNED") + "',
    "\"\"\"); open('PWNED', 'w') #",
    "tab\tbell\x07esc\x1bdel\x7f",
    "\x01\x1f\x85\u2028\u2029",
    "é ☃ 😀 中文 \u200b \ufeff",
    "{x} {{y}} %s ${HOME} $(touch PWNED) `touch PWNED`",
    "# comment",
    "",
    "x" * 10_000,
    "\\N{BULLET} \\x00 \\u0041",
]


def test_hostile_values_are_printed_back_unchanged(hub: Hub, svc: ServiceProcess) -> None:
    """Create a notebook with hostile strings, a list and a dict of them, run it in
    alice's server (python3 kernel) and read back what it printed: the same JSON, and no
    side-effect file anywhere."""
    parameters: dict[str, Any] = {f"s{i}": v for i, v in enumerate(HOSTILE_VALUES)}
    parameters["as_list"] = [*HOSTILE_VALUES[:8], None, True, 1.5, -(10**30), {"k": []}]
    parameters["as_dict"] = {v: [v] for v in HOSTILE_VALUES[:12]}
    r = send(
        svc,
        "create-from-template",
        {"new_name": "hostile-run", "parameters": parameters, "overwrite": True},
    )
    assert r.status_code == 201, r.text
    r = svc.request(
        "POST",
        "execute",
        "alice",
        json={"notebook_path": "hostile-run.ipynb"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success", r.json()
    nb = nbformat.read(hub.user_dir("alice") / "hostile-run.ipynb", as_version=4)
    printed = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    )
    start, end = printed.index("BEGIN") + len("BEGIN"), printed.rindex("END")
    assert json.loads(printed[start:end]) == parameters
    assert not list(hub.dir.rglob("PWNED"))


def raw_post(svc: ServiceProcess, route: str, data: bytes, user: str = "alice") -> Any:
    return svc.request("POST", route, user, data=data, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("route", "name"),
    [
        ("create-from-template", "x y"),
        ("create-from-template", "1x"),
        ("create-from-template", "class"),
        ("create-from-template", "__import__('os')"),
        ("create-from-template", "s0\n"),
        ("execute-notebook", "x=1;import os"),
        ("execute-notebook", "lambda"),
        ("execute", "a-b"),
        ("submit-notebook", "x.y"),
        ("submit-notebook", ""),
        # names Python gives a meaning: __builtins__ = "x" breaks every later cell
        ("create-from-template", "__builtins__"),
        ("execute-notebook", "__name__"),
        ("submit-notebook", "__builtins__"),
    ],
)
def test_parameter_names_that_are_not_identifiers(
    hub: Hub, svc: ServiceProcess, route: str, name: str
) -> None:
    before = state(hub, svc)
    body: dict[str, Any] = {"parameters": {name: 1, "s1": "fine"}}
    if route == "submit-notebook":
        body["notebook_path"] = "rec.ipynb"
    else:
        body["allow_unknown"] = True if route == "create-from-template" else None
        body = {k: v for k, v in body.items() if v is not None}
    error = assert_refused(send(svc, route, body), 400)
    assert name in error.get("details", {}).get("parameters", {}), error
    assert_unchanged(before, state(hub, svc))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"s0": NaN}',
        b'{"s0": Infinity}',
        b'{"s0": -Infinity}',
        b'{"as_list": [1, NaN]}',
        b'{"as_dict": {"a": {"b": Infinity}}}',
        b'{"s0": "\\ud800"}',
    ],
)
@pytest.mark.parametrize("route", ["create-from-template", "execute", "submit-notebook"])
def test_parameter_values_that_are_not_json(
    hub: Hub, svc: ServiceProcess, route: str, raw: bytes
) -> None:
    before = state(hub, svc)
    fields = {
        "create-from-template": f'"template_name": "{TEMPLATE}", "new_name": "nj"',
        "execute": '"notebook_path": "mine.ipynb"',
        "submit-notebook": '"notebook_path": "rec.ipynb"',
    }[route]
    data = b"{" + fields.encode() + b', "parameters": ' + raw + b"}"
    error = assert_refused(raw_post(svc, route, data), 400)
    (name,) = json.loads(raw.replace(b"NaN", b"0").replace(b"Infinity", b"0")).keys()
    assert name in json.dumps(error), error
    assert_unchanged(before, state(hub, svc))


# -- malformed JSON bodies -----------------------------------------------------------------

JSON_ROUTES = ["create-from-template", "submit-notebook", "execute-notebook", "execute"]
BAD_BODIES = [
    b"not json",
    b"{",
    b"[]",
    b"[{}]",
    b"3",
    b'"string"',
    b"null",
    b"true",
    b"\xff\xfe{}",
    b'{"notebook_path": "\xff.ipynb"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
    b'{"parameters": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    b'{"notebook_path": "a.ipynb", "notebook_path": "../b.ipynb"}',
]
WRONG_TYPES = [
    {"template_name": 5},
    {"template_name": ["hostile/echo.ipynb"]},
    {"notebook_path": {"path": "mine.ipynb"}},
    {"notebook_path": None},
    {"target_directory": 1.5},
    {"new_name": False},
    {"parameters": "s0=1"},
    {"parameters": [["s0", 1]]},
    {"description": ["x"]},
    {"description": "\ud800"},
    {"overwrite": "yes"},
    {"timeout": "10"},
    {"timeout": -1},
    {"kernel_name": {"name": "python3"}},
    {"username": 7},
    {"experiment_name": []},
]


def _bad_body_cases() -> list[Any]:
    cases = []
    for route in [*JSON_ROUTES, "put-notebook"]:
        for i, raw in enumerate(BAD_BODIES):
            cases.append(pytest.param(route, raw, id=f"{route}-raw{i}"))
    return cases


@pytest.mark.parametrize(("route", "raw"), _bad_body_cases())
def test_malformed_json_bodies(hub: Hub, svc: ServiceProcess, route: str, raw: bytes) -> None:
    before = state(hub, svc)
    if route == "put-notebook":
        nid = svc.request("GET", "notebooks", "alice").json()["notebooks"][0]["id"]
        r = svc.request(
            "PUT",
            f"notebook/{nid}",
            "alice",
            data=raw,
            headers={"Content-Type": "application/json"},
        )
    else:
        r = raw_post(svc, route, raw)
    assert_refused(r, 400)
    assert_unchanged(before, state(hub, svc))


FIELDS = {
    "create-from-template": {
        "template_name", "target_directory", "new_name", "parameters", "description",
        "overwrite", "username",
    },
    "submit-notebook": {"notebook_path", "parameters", "description", "username"},
    "execute-notebook": {
        "notebook_path", "parameters", "timeout", "kernel_name", "username", "experiment_name",
    },
    "execute": {
        "notebook_path", "parameters", "timeout", "kernel_name", "username", "experiment_name",
    },
    "put-notebook": {"notebook_path", "description", "parameters"},
}  # fmt: skip


def _wrong_type_cases() -> list[Any]:
    cases = []
    for route, fields in FIELDS.items():
        for body in WRONG_TYPES:
            field = next(iter(body))
            if field not in fields or (route == "put-notebook" and body[field] is None):
                continue  # PUT: null leaves the field as it is
            cases.append(pytest.param(route, body, id=f"{route}-{field}-{body[field]!r:.20}"))
    return cases


@pytest.mark.parametrize(("route", "body"), _wrong_type_cases())
def test_wrong_field_types(hub: Hub, svc: ServiceProcess, route: str, body: dict) -> None:
    before = state(hub, svc)
    r = send(svc, route, dict(body))
    assert_refused(r, 400)
    assert_unchanged(before, state(hub, svc))


# -- uploads --------------------------------------------------------------------------------


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "BoUnDaRy") -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


NB = make_notebook()
# (a valid nbformat 3 notebook is accepted: the catalog upgrades it to version 4)
NB3_BROKEN = json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}}).encode()
NB5 = json.dumps({"nbformat": 5, "nbformat_minor": 0, "metadata": {}, "cells": []}).encode()
MP = "multipart/form-data; boundary=BoUnDaRy"


def form(
    filename: str | None = "a.ipynb",
    data: bytes = NB,
    category: bytes = b"up",
    *extra: tuple[str, str | None, bytes],
) -> bytes:
    """An upload's multipart body: the ``file`` part, ``category`` and ``extra`` parts."""
    return multipart([("file", filename, data), ("category", None, category), *extra])


UPLOADS = {
    "part-filename-dotdot": (MP, form("../../evil.ipynb")),
    "part-filename-abs": (MP, form("/tmp/evil.ipynb")),
    "part-filename-backslash": (MP, form("..\\evil.ipynb")),
    "part-filename-encoded": (MP, form("%2e%2e%2fevil.ipynb")),
    "part-filename-fullwidth": (MP, form("\uff0e\uff0e\uff0fevil.ipynb")),
    "part-filename-empty": (MP, form("")),
    "category-not-utf8": (MP, form(category=b"\xff")),
    "filename-field-traversal": (
        MP,
        form("a.ipynb", NB, b"up", ("filename", None, b"../../b.ipynb")),
    ),
    "nbformat-3-without-worksheets": (MP, form(data=NB3_BROKEN)),
    "nbformat-5": (MP, form(data=NB5)),
    "empty-file": (MP, form(data=b"")),
    "json-not-object": (MP, form(data=b'"nb"')),
    "two-file-parts": (MP, form("a.ipynb", NB, b"up", ("file", "b.ipynb", NB))),
    "file-as-plain-field": (MP, form(None)),
    "no-parts": (MP, b"--BoUnDaRy--\r\n"),
    "truncated": (MP, form()[:-200]),
    "no-closing-boundary": (MP, form()[:-14]),
    "no-boundary-parameter": ("multipart/form-data", form()),
    "wrong-boundary": ("multipart/form-data; boundary=other", form()),
    "text-plain": ("text/plain", NB),
    "json-content-type": ("application/json", NB),
    "no-content-type": ("", NB),
    "urlencoded": ("application/x-www-form-urlencoded", b"category=up&file=" + NB[:100]),
    "over-limit-no-length": (MP, form(data=make_notebook(padding=MAX_UPLOAD * 2))),
}


@pytest.mark.parametrize("case", list(UPLOADS))
def test_malformed_uploads(hub: Hub, svc: ServiceProcess, case: str) -> None:
    before = state(hub, svc)
    content_type, data = UPLOADS[case]
    headers = {"Content-Type": content_type} if content_type else {}
    if case == "over-limit-no-length":
        # chunked: no Content-Length to refuse from, the limit is met while streaming
        chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
        r = svc.request(
            "POST", "minio/upload-template", "carol", data=iter(chunks), headers=headers
        )
        assert_refused(r, 413)
    else:
        r = svc.request("POST", "minio/upload-template", "carol", data=data, headers=headers)
        assert_refused(r, 400)
    assert_unchanged(before, state(hub, svc))


# -- bodies over the limit ---------------------------------------------------------------

#: the service's default TemplatesService.max_body_bytes
MAX_BODY = 1024 * 1024


def big_body(size: int) -> bytes:
    """A JSON body of about ``size`` bytes: a submit-notebook with one long value."""
    return json.dumps({"notebook_path": "rec.ipynb", "parameters": {"s0": "x" * size}}).encode()


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("where", ["proxy", "direct"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize(
    ("route", "size"), [("submit-notebook", 5_000_000), ("execute-notebook", 2 * MAX_BODY)]
)
def test_oversized_bodies_get_413_json(
    hub: Hub, svc: ServiceProcess, where: str, framing: str, route: str, size: int
) -> None:
    before = state(hub, svc)
    base = svc.url if where == "proxy" else svc.direct_url
    data = big_body(size)
    r = requests.post(
        base + route,
        data=data if framing == "content-length" else chunks(data),
        headers={
            "Authorization": f"token {hub.tokens['alice']}",
            "Content-Type": "application/json",
        },
        timeout=60,
    )
    error = assert_refused(r, 413)
    assert str(MAX_BODY) in error["message"]
    assert_unchanged(before, state(hub, svc))


@pytest.mark.parametrize("where", ["proxy", "direct"])
def test_refusals_of_big_bodies_reach_the_client(hub: Hub, svc: ServiceProcess, where: str) -> None:
    """Refused before the body arrives (no token; an unknown route): the answer is the
    service's JSON, not a reset connection reported by the proxy."""
    base = svc.url if where == "proxy" else svc.direct_url
    data = big_body(3_000_000)
    headers = {"Content-Type": "application/json"}
    assert_refused(
        requests.post(base + "submit-notebook", data=data, headers=headers, timeout=60), 403
    )
    headers["Authorization"] = f"token {hub.tokens['alice']}"
    r = requests.post(base + "no/such/route", data=data, headers=headers, timeout=60)
    assert_refused(r, 404)


def test_a_body_at_the_limit_is_taken(hub: Hub, svc: ServiceProcess) -> None:
    data = big_body(MAX_BODY - 200)
    assert len(data) <= MAX_BODY
    r = raw_post(svc, "submit-notebook", data)
    assert r.status_code == 201, r.text[:300]
    assert svc.request("DELETE", f"notebook/{r.json()['notebook_id']}", "alice").status_code == 204


# -- smaller rules -----------------------------------------------------------------------


def test_run_output_onto_an_existing_notebook_needs_overwrite(
    hub: Hub, svc: ServiceProcess
) -> None:
    before = state(hub, svc)
    body = {"notebook_path": "mine.ipynb", "output_path": "mine.ipynb", "kernel_name": "python3"}
    error = assert_refused(send(svc, "execute-notebook", body), 409)
    assert "overwrite" in error["message"]
    assert_unchanged(before, state(hub, svc))


def test_acting_for_a_user_the_hub_does_not_have(hub: Hub, svc: ServiceProcess) -> None:
    before = state(hub, svc)
    for route in ("submit-notebook", "create-from-template", "execute-notebook"):
        body = {"username": "no-such-user"}
        assert_refused(send(svc, route, body, user="admin"), 404)
        # told only to who could act for them: others get 403
        assert_refused(send(svc, route, body, user="bob"), 403)
    assert_unchanged(before, state(hub, svc))


def test_not_found_messages_keep_percent_signs(hub: Hub, svc: ServiceProcess) -> None:
    error = assert_refused(svc.request("GET", "no/%3Cscript%3E/x%25y", "alice"), 404)
    assert "%3C" in error["message"] and "%%" not in error["message"], error


def test_refused_tokens_in_urls_stay_out_of_every_log(hub: Hub, svc: ServiceProcess) -> None:
    """A token in a URL that the service or a user's server refuses: Tornado's own
    warning line quotes the URL; the token is masked in the service's log and in the
    server's (which the Hub's log collects)."""
    r = hub.api(
        "POST",
        "/users/alice/tokens",
        json={"note": "refused", "scopes": ["read:users:name!user=alice"], "expires_in": 600},
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    hub.tokens["alice (read:users:name only)"] = token  # the session's watch looks too
    hub.start_server("alice")
    marker = uuid.uuid4().hex[:12]
    r = requests.get(f"{svc.url}minio/list-templates?token={token}&q={marker}", timeout=30)
    assert_refused(r, 403)
    r = requests.get(
        f"{hub.url}/user/alice/templates/api/executions?token={token}&m={marker}",
        headers={"Accept": "application/json"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code in (302, 403), r.status_code
    deadline = time.monotonic() + 30
    while marker not in svc.log.read_text() or marker not in hub.log.read_text():
        assert time.monotonic() < deadline, "the refusals were not logged"
        time.sleep(0.2)
    for log in (svc.log, hub.log):
        assert token not in log.read_text(), f"the token is in {log.name}"
