"""Shared fixtures: S3 (moto), PostgreSQL, JupyterHub. See tests/fixtures/."""

pytest_plugins = [
    "fixtures.secrets_watch",  # first: fixtures.hub imports it
    "fixtures.s3",
    "fixtures.postgres",
    "fixtures.hub",
    "fixtures.mlflow",
    "fixtures.browser",
]


# tests/jupyter_server needs pytest-jupyter's plugin, which cannot share a session with
# pytest-asyncio: it is collected only in its own run, the one that loads that plugin
# (`python -m pytest -p pytest_jupyter.jupyter_server -p no:asyncio tests/jupyter_server`).
def pytest_ignore_collect(collection_path, config):
    if collection_path.name == "jupyter_server" and collection_path.parent.name == "tests":
        return not config.pluginmanager.has_plugin("pytest_jupyter.jupyter_server") or None
    return None
