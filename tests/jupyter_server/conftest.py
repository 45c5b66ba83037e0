"""Fixtures of the in-process server extension tests (pytest-jupyter).

These tests need pytest-jupyter's ``jupyter_server`` plugin, whose event loop handling
(a new loop per test, closed afterwards, and its own runner for coroutine tests) cannot
share a session with pytest-asyncio's session loop of the rest of the suite. So they run
in a pytest invocation of their own, without pytest-asyncio (see ``make test``)::

    python -m pytest -p pytest_jupyter.jupyter_server -p no:asyncio tests/jupyter_server

``tests/conftest.py`` leaves this folder out of every run that does not load that plugin,
and :func:`pytest_configure` below refuses a run of it that is not set up that way. Both
options go on the command line: ``no:asyncio`` cannot be said in a conftest, and pytest
refuses ``pytest_plugins`` in a conftest it only finds while collecting (this one, when
``tests`` is collected). No ``__init__.py`` here: as a package, this folder would shadow
the ``jupyter_server`` package.
"""

from __future__ import annotations

from typing import Any

import pytest
from traitlets.config import Config

from jupyterhub_templates.server.executor import Executor
from jupyterhub_templates.server.handlers import EXECUTOR_SETTING

RUN_WITH = "python -m pytest -p pytest_jupyter.jupyter_server -p no:asyncio tests/jupyter_server"


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run here without pytest-jupyter's plugin, or with pytest-asyncio."""
    plugins = config.pluginmanager
    if not plugins.has_plugin("pytest_jupyter.jupyter_server") or plugins.has_plugin("asyncio"):
        raise pytest.UsageError(f"tests/jupyter_server runs on its own: {RUN_WITH}")


@pytest.fixture
def jp_server_config() -> Config:
    """The extension enabled, one execution at a time, the ``python3`` kernel by default."""
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"jupyterhub_templates": True}},
            "TemplatesExtensionApp": {
                "max_concurrent_executions": 1,
                "default_kernel_name": "python3",
                "kill_grace": 1.0,
            },
        }
    )


@pytest.fixture
def executor(jp_serverapp: Any) -> Executor:
    """The extension's executor in the test's server."""
    return jp_serverapp.web_app.settings[EXECUTOR_SETTING]
