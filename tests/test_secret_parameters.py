"""Secret parameters: marked in the template (annotated ``"Secret"``/``"SecretStr"``,
a string so that Python does not evaluate it, or tagged ``[secret]`` in the help
comment), given in a run's ``secrets``, set in the
kernel from the run's environment after the parameters, and found nowhere else.

Through the Hub service with a real JupyterHub and users' real servers and kernels; the
scan covers the created notebook, the output notebook, every answer of the test, the
run's log, the service's log, the Hub's log (the users' servers' logs are in it) and
the database file. MLflow is not part of this service's run (no tracking server): the
service logs no parameter to MLflow, so there is nothing of ours to scan there.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from fixtures.hub import Hub, ServiceProcess, local_service_env
from fixtures.secrets_watch import WATCH

from jupyterhub_templates.catalog.parameters import check_parameters, check_secrets
from jupyterhub_templates.catalog.parsing import infer_parameters, is_secret
from jupyterhub_templates.errors import InvalidInput

PARAMETERS = """\
token: "Secret" = ""
api_key = "none"  # [secret] the service's key
n_rows = 3  # how many rows
"""
BODY = """\
import hashlib
print("token length", len(token))
print("key digest", hashlib.sha256(api_key.encode()).hexdigest())
print("rows", n_rows)
"""


def _template() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(BODY, metadata={"tags": []}),
    ]
    return nb


# -- on their own ------------------------------------------------------------------------


def test_secret_parameters_are_marked_and_refused_as_parameters() -> None:
    assert is_secret("Secret", "") and is_secret("SecretStr", "") and is_secret("'Secret'", "")
    assert is_secret("str", "[secret] the key") and is_secret("", "the key [SECRET]")
    assert not is_secret("str", "a secret-ish name") and not is_secret("", "")
    declared = infer_parameters(_template(), "python3", "python")
    assert {p["name"]: p["secret"] for p in declared} == {
        "token": True,
        "api_key": True,
        "n_rows": False,
    }
    assert {p["name"]: p["type"] for p in declared}["token"] == "str"
    with pytest.raises(InvalidInput, match="give it in `secrets`") as e:
        check_parameters(declared, {"api_key": "k", "n_rows": 4})
    assert "api_key" in str(e.value) and "n_rows" not in str(e.value)
    assert check_parameters(declared, {"n_rows": "4"}) == {"n_rows": 4}


@pytest.mark.parametrize(
    "given, message",
    [
        ("token=abc", "JSON object"),
        ({"token": 12345678}, "must be a string"),
        ({"token": "a\x00b"}, "must be a string"),
        ({"1token": "abc"}, "1token"),
        ({f"s{i}": "x" for i in range(51)}, "at most 50"),
        ({"token": "x" * (65 * 1024)}, "at most 64 KiB"),
    ],
)
def test_bad_secrets_are_refused_without_showing_them(given: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as e:
        check_secrets(given)
    assert "12345678" not in str(e.value) and "a\x00b" not in str(e.value)


# -- through the service -----------------------------------------------------------------


@pytest.fixture(scope="module")
def svc(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("secret-parameters")
    service = ServiceProcess(hub, local_service_env(workdir), workdir)
    service.start()
    service.publish("secrets/keys.ipynb", nbformat.writes(_template()).encode())
    yield service
    service.stop()


def test_a_secret_reaches_the_kernel_and_nothing_else(svc: ServiceProcess, hub: Hub) -> None:
    token, key = secrets.token_hex(16), "key-" + secrets.token_hex(12)
    WATCH.add_secret(hub, "a secret parameter (token)", token)
    WATCH.add_secret(hub, "a secret parameter (api_key)", key)

    r = svc.request("GET", "minio/get-template/secrets/keys.ipynb", "alice")
    assert r.status_code == 200, r.text
    assert {p["name"]: p["secret"] for p in r.json()["parameters"]}["token"] is True
    # creation refuses a secret among the parameters: it would be written into the notebook
    body = {"template_name": "secrets/keys.ipynb", "target_directory": "secret-runs"}
    r = svc.request(
        "POST", "create-from-template", "alice", json={**body, "parameters": {"token": token}}
    )
    assert r.status_code == 400 and "secrets" in r.json()["message"], r.text
    r = svc.request(
        "POST", "create-from-template", "alice", json={**body, "parameters": {"n_rows": 7}}
    )
    assert r.status_code == 201, r.text
    created = r.json()["new_notebook_path"]
    run = {"notebook_path": created, "kernel_name": "python3"}
    # nor may a run give it as a parameter, or ask for retries with secrets
    for extra in (
        {"parameters": {"api_key": key}},
        {"secrets": {"token": token}, "retries": {"max": 1}},
    ):
        r = svc.request("POST", "execute-notebook", "alice", json={**run, **extra})
        assert r.status_code == 400, r.text

    r = svc.request(
        "POST",
        "execute-notebook",
        "alice",
        json={**run, "secrets": {"token": token, "api_key": key}},
    )
    assert r.status_code == 202, r.text
    final = svc.wait_final(r.json()["execution_id"])
    assert final["status"] == "success", (final["error"], final["parameters"])
    assert final["secrets"] == ["token", "api_key"]
    assert final["parameters"] == {"n_rows": 7}
    output = (hub.user_dir("alice") / final["output_path"]).read_text()
    # the kernel had them: the output shows what only they give
    assert f"token length {len(token)}" in output
    assert hashlib.sha256(key.encode()).hexdigest() in output and "rows 7" in output
    r = svc.request("GET", f"execution/{final['execution_id']}/log", "alice")
    assert r.status_code == 200 and "token length 32" in r.json()["log"], r.text

    # a rerun without them runs on the template's defaults
    r = svc.request("POST", f"execution/{final['execution_id']}/rerun", "alice", json={})
    assert r.status_code == 202, r.text
    again = svc.wait_final(r.json()["execution_id"])
    assert again["status"] == "success" and again["secrets"] == []
    assert "token length 0" in (hub.user_dir("alice") / again["output_path"]).read_text()

    # every artefact, scanned for both values
    artefacts: dict[str, bytes] = {
        "created notebook": (hub.user_dir("alice") / created).read_bytes(),
        "output notebook": output.encode(),
        "service log": svc.log.read_bytes(),
        "Hub and servers' log": hub.log.read_bytes(),
        "executions": json.dumps(svc.request("GET", "executions", "alice").json()).encode(),
    }
    database = Path(svc.workdir / "templates.sqlite")
    for path in [database, *database.parent.glob("templates.sqlite-*")]:
        artefacts[path.name] = path.read_bytes()
    for name, data in artefacts.items():
        for value in (token, key):
            assert value.encode() not in data, f"a secret is in the {name}"
