"""What `pip install .` installs: the wheel carries the prebuilt Lab extension, the file
that enables the server extension, the example templates and the migrations."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=600,
    )
    (path,) = out.glob("jupyterhub_templates-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_ships_everything_a_hub_needs(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    data = next(n.split("/")[0] for n in names if ".data/" in n)
    lab = f"{data}/data/share/jupyter/labextensions/jupyterhub-templates/"
    assert f"{lab}package.json" in names
    assert f"{lab}install.json" in names
    assert any(n.startswith(f"{lab}static/remoteEntry.") for n in names)
    assert any(n.startswith(f"{lab}schemas/jupyterhub-templates/plugin.json") for n in names)
    config = f"{data}/data/etc/jupyter/jupyter_server_config.d/jupyterhub_templates.json"
    assert config in names
    assert b'"jupyterhub_templates": true' in wheel.read(config)
    for example in (
        "ml/automl_classification.ipynb",
        "ml/regression.ipynb",
        "etl/csv_clean.ipynb",
        "analysis/eda.ipynb",
    ):
        assert f"jupyterhub_templates/examples/{example}" in names
    assert "jupyterhub_templates/db/migrations/versions/0002_notebooks_executions.py" in names
    # nothing of the tests or the sources of the Lab extension
    assert not any(n.startswith(("tests/", "src/")) for n in names)
