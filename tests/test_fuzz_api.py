"""Fuzzing the running service with schemathesis, from its own ``/openapi.json``.

Every documented operation is fuzzed with alice's token (a plain user) and with carol's
(a templates admin, so admin-only operations get past authorization), in three modes:

- ``positive``: valid data as the document describes it;
- ``negative``: invalid data (operations without any input have no negative cases);
- ``targeted``: valid data with the fields that name a resource pinned to one that
  exists (the uploaded template, alice's notebook, record and execution, a signed
  download URL), so the success paths are fuzzed and not only the refusals. Random
  data almost never names an existing resource.

Every answer must not be a server error (no 5xx: 503 is documented but the database,
store and Hub are all up), have a documented status code and content type, and match
the documented response schema.

``make test`` runs a short pass (:data:`SHORT_EXAMPLES` cases per operation, caller and
mode); ``make test-long`` runs the long pass (``-m long``, :data:`LONG_EXAMPLES`).
``FUZZ_EXAMPLES`` overrides either. Targeted runs of the two operations that start a
kernel per case get a quarter of that (at least 2).

Nothing is excluded from the random modes. Destructive operations run too, against this
module's own service (its own database and store): ``DELETE
/minio/delete-template/{name}`` and ``DELETE /notebook/{id}`` may delete what the
fuzzing made. What has no targeted pass, and why, is in :func:`pinned`. A fuzzed
``timeout`` is dropped in targeted execute cases (a valid one may be a day long).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from fixtures.hub import Hub, ServiceProcess
from hypothesis import HealthCheck, Phase, given, settings
from notebooks import make_notebook, write_python_notebook
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jupyterhub_templates.service.openapi import openapi_document

SHORT_EXAMPLES = 10
LONG_EXAMPLES = 120
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DOC = openapi_document()
OPERATIONS = [
    f"{method.upper()} {path}"
    for path, item in DOC["paths"].items()
    for method in item
    if method in ("get", "put", "post", "delete", "patch")
]
CALLERS = ["alice", "carol"]
#: "targeted": positive data with the fields that name a resource pinned to one that
#: exists (see :func:`pin`), so that the success paths are fuzzed too, not only refusals
MODES = ["positive", "negative", "targeted"]
#: operations that start a kernel per case: fewer examples
EXPENSIVE = {"POST /execute", "POST /execute-notebook"}
TEMPLATE = "ml/automl_classification.ipynb"
NOTEBOOK = "fuzz/quick.ipynb"


def has_input(operation: str) -> bool:
    """Whether the operation takes parameters or a body; without any, no invalid request
    can be generated (negative mode has nothing to vary: not an exclusion)."""
    method, path = operation.split(" ", 1)
    spec = DOC["paths"][path][method.lower()]
    return bool(spec.get("parameters") or spec.get("requestBody"))


def pinned(operation: str) -> bool:
    """Operations with a targeted pass. Not pinned (they are in the random passes only):
    DELETE /minio/delete-template/{name}, which would delete the template the other
    targeted cases use; POST /minio/upload-template, whose valid file is a notebook the
    schema cannot describe (uploads are part 2, hostile input, and the catalog tests);
    and the operations without a resource to name (lists, health, openapi, root)."""
    return operation in PINNED


PINNED = {
    "GET /minio/get-template/{name}",
    "GET /minio/download-url/{name}",
    "GET /minio/download/{name}",
    "POST /create-from-template",
    "POST /execute-notebook",
    "POST /execute",
    "GET /execution-status/{id}",
    "POST /execution/{id}/cancel",
    "GET /execution/{id}/log",
    "POST /submit-notebook",
    "GET /notebook/{id}",
    "PUT /notebook/{id}",
    "DELETE /notebook/{id}",
}


CASES = [
    pytest.param(operation, caller, mode, id=f"{operation}-{caller}-{mode}")
    for operation in OPERATIONS
    for caller in CALLERS
    for mode in MODES
    if mode == "positive" or (mode == "negative" and has_input(operation)) or pinned(operation)
]


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("fuzz-api")
    service = ServiceProcess(
        hub,
        {
            "JUPYTERHUB_TEMPLATES_DB_URL": f"sqlite:///{workdir / 'templates.sqlite'}",
            "JUPYTERHUB_TEMPLATES_STORE_DIR": str(workdir / "store"),
        },
        workdir,
    )
    # short waits: a fuzzed run that does start must not hold a case for long
    service.start(["--Executions.first_cell_timeout=5"])
    # something to find: a template (the documented example name) and a notebook
    for name in ("automl_classification.ipynb", "automl_template.ipynb"):
        r = service.request(
            "POST",
            "minio/upload-template",
            "carol",
            files={"file": (name, make_notebook())},
            data={"category": "ml", "overwrite": "true"},
        )
        assert r.status_code in (200, 201), r.text
    write_python_notebook(hub.user_dir("alice") / NOTEBOOK, "print('fuzz', x)")
    r = service.request(
        "POST",
        "execute-notebook",
        "alice",
        json={"notebook_path": NOTEBOOK, "kernel_name": "python3"},
    )
    assert r.status_code == 202, r.text
    service.execution_id = r.json()["execution_id"]  # type: ignore[attr-defined]
    yield service
    service.stop()


@pytest.fixture(scope="module")
def schema(svc: ServiceProcess) -> schemathesis.schemas.BaseSchema:
    r = requests.get(svc.url + "openapi.json", timeout=30)
    assert r.status_code == 200
    return schemathesis.openapi.from_dict(r.json())


def examples(request: pytest.FixtureRequest, default: int) -> int:
    return int(os.environ.get("FUZZ_EXAMPLES") or default)


def pin(svc: ServiceProcess, case: schemathesis.Case) -> None:
    """Point a generated case at resources that exist: alice's notebook, execution and
    records, the uploaded template; other fields stay as generated."""
    params = case.path_parameters or {}
    if "name" in params:
        params["name"] = TEMPLATE
    if "id" in params:
        if "execution" in case.operation.path:
            params["id"] = svc.execution_id  # type: ignore[attr-defined]
        else:
            r = svc.request("POST", "submit-notebook", "alice", json={"notebook_path": NOTEBOOK})
            params["id"] = r.json()["notebook_id"]
    if case.operation.path == "/minio/download/{name}":
        r = svc.request("GET", f"minio/download-url/{TEMPLATE}", "alice")
        query = dict(item.split("=", 1) for item in r.json()["url"].split("?", 1)[1].split("&"))
        case.query = {**(case.query or {}), **query}
    if isinstance(case.body, dict):
        body = case.body
        if case.operation.path != "/notebook/{id}":  # PUT takes no username
            body["username"] = "alice"
        if case.operation.path == "/create-from-template":
            body["template_name"] = TEMPLATE
            body.pop("version", None)
        if case.operation.path in ("/execute", "/execute-notebook", "/submit-notebook"):
            body["notebook_path"] = NOTEBOOK
            body["kernel_name"] = "python3"
            body.pop("timeout", None)  # a random timeout could hold a case for a day


def fuzz(
    svc: ServiceProcess,
    schema: schemathesis.schemas.BaseSchema,
    operation: str,
    caller: str,
    mode: str,
    max_examples: int,
) -> Counter:
    method, path = operation.split(" ", 1)
    op = schema[path][method]
    generation = GenerationMode.NEGATIVE if mode == "negative" else GenerationMode.POSITIVE
    headers = {"Authorization": f"token {svc.hub.tokens[caller]}"}
    statuses: Counter = Counter()
    base_url = svc.url.rstrip("/")

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=generation))
    def run(case: schemathesis.Case) -> None:
        if mode == "targeted":
            pin(svc, case)
        # the caller's token, whatever the case generated for Authorization
        case.headers = {**(case.headers or {}), **headers}
        response = case.call(base_url=base_url, timeout=120)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    run()
    return statuses


def _run(request, svc, schema, operation, caller, mode, default) -> None:
    n = examples(request, default)
    if operation in EXPENSIVE and mode == "targeted":
        n = max(2, n // 4)
    statuses = fuzz(svc, schema, operation, caller, mode, n)
    total = sum(statuses.values())
    print(f"FUZZ {operation} {caller} {mode}: {total} cases {dict(sorted(statuses.items()))}")
    assert total > 0
    assert not any(code >= 500 for code in statuses)


@pytest.mark.parametrize("operation, caller, mode", CASES)
def test_fuzz_short(request, svc, schema, operation: str, caller: str, mode) -> None:
    _run(request, svc, schema, operation, caller, mode, SHORT_EXAMPLES)


@pytest.mark.long
@pytest.mark.parametrize("operation, caller, mode", CASES)
def test_fuzz_long(request, svc, schema, operation: str, caller: str, mode) -> None:
    if "long" not in (request.config.option.markexpr or ""):
        pytest.skip("long fuzz run: make test-long (pytest -m long)")
    _run(request, svc, schema, operation, caller, mode, LONG_EXAMPLES)
