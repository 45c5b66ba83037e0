"""Loading a deployment's configuration the way its programs do, for tests/test_deploy.py
(docker-compose) and tests/test_z2jh.py (Kubernetes): each in a fresh interpreter with
only the environment the deployment gives the program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def load_in_subprocess(code: str, env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """Run ``code`` (which prints one JSON line) with ``env`` only, in ``tmp_path``."""
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


SERVICE_LOADER = """
import json
from traitlets.config import LoggingConfigurable
from jupyterhub_templates.execution.executions import Executions
from jupyterhub_templates.service.app import TemplatesService
from jupyterhub_templates.stores.s3 import S3TemplateStore
app = TemplatesService()
app.parse_command_line([])
store = S3TemplateStore(parent=app)
# its traits only (no database, Hub or servers behind it)
executions = Executions.__new__(Executions)
LoggingConfigurable.__init__(executions, parent=app)
print(json.dumps({
    "db_url": app.db_url.split("@")[-1],
    "store_class": str(app.store_class),
    "bind_url": app.bind_url,
    "proxy_url": app.proxy_url,
    "endpoint": store.endpoint,
    "public_endpoint": store.public_endpoint,
    "bucket": store.bucket,
    "access_key_set": bool(store.access_key),
    "secret_key_set": bool(store.secret_key),
    "run_server": executions.run_server,
    "run_server_options": executions.run_server_options,
}))
"""


def service_settings(env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """What the templates service (and its S3 store) read from ``env``."""
    return load_in_subprocess(SERVICE_LOADER, env, tmp_path)
