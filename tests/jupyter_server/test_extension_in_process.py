"""The executions API of the server extension, in process, with pytest-jupyter.

Each test gets its own ``jupyter_server`` (``jp_serverapp``) with the extension enabled
(``conftest.py``: one execution at a time, the ``python3`` kernel), talks to it with
``jp_fetch`` and writes its notebooks in ``jp_root_dir``. Executions run for real: a
runner child process per execution, papermill, an ipykernel kernel. Being in process, the
tests also see the executor's own state (the runner's and the kernel's pids).

Run apart from the rest of the suite (see ``conftest.py``)::

    python -m pytest -p pytest_jupyter.jupyter_server -p no:asyncio tests/jupyter_server
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from notebooks import write_python_notebook as write_notebook
from processes import PIDS_CELL, alive, wait_file, wait_gone

from jupyterhub_templates.server.executor import Executor
from jupyterhub_templates.statuses import FINAL

API = ("templates", "api", "executions")


# ---------------------------------------------------------------- helpers


class Api:
    """The executions API through ``jp_fetch``: (status, parsed JSON or None)."""

    def __init__(self, fetch: Callable[..., Any]) -> None:
        self.fetch = fetch

    async def call(
        self, method: str, *path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        if data is None and method == "POST":
            data = ""
        response = await self.fetch(
            *API, *path, method=method, body=data, params=params, raise_error=False
        )
        return response.code, json.loads(response.body) if response.body else None

    async def submit(self, execution_id: str, input_path: str, **body: Any) -> dict[str, Any]:
        code, model = await self.call(
            "POST", body={"id": execution_id, "input_path": input_path, **body}
        )
        assert code == 202, model
        assert model["id"] == execution_id and model["status"] in ("pending", "running")
        return model

    async def get(self, execution_id: str) -> dict[str, Any]:
        code, model = await self.call("GET", execution_id)
        assert code == 200, model
        return model

    async def wait_for(
        self,
        execution_id: str,
        *statuses: str,
        until: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Poll until the execution is in one of ``statuses`` (and ``until`` holds)."""
        deadline = time.monotonic() + timeout
        while True:
            model = await self.get(execution_id)
            if model["status"] in statuses and (until is None or until(model)):
                return model
            assert time.monotonic() < deadline, model
            await asyncio.sleep(0.1)

    async def log(self, execution_id: str) -> str:
        code, log = await self.call("GET", execution_id, "log")
        assert code == 200, log
        return log["log"]


@pytest.fixture
def api(jp_fetch: Callable[..., Any]) -> Api:
    return Api(jp_fetch)


# ---------------------------------------------------------------- tests


async def test_run_success(api: Api, jp_root_dir: Path) -> None:
    nb = write_notebook(
        jp_root_dir / "sub" / "nb.ipynb",
        "print('hello', x, name)",
        "x * 2",
        params="x = 1\nname = 'a'",
    )
    model = await api.submit(
        "ok",
        "sub/nb.ipynb",
        output_path="out/result.ipynb",
        parameters={"x": 21, "name": "b"},
    )
    assert model["kernel_name"] == "python3"  # the configured default
    done = await api.wait_for("ok", *FINAL)
    assert done["status"] == "success", (done, await api.log("ok"))
    assert done["error"] is None and done["started"] and done["finished"]

    out = nbformat.read(str(jp_root_dir / "out" / "result.ipynb"), as_version=4)
    code_cells = [c for c in out.cells if c.cell_type == "code"]
    injected = [c for c in code_cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert "x = 21" in injected[0].source and 'name = "b"' in injected[0].source
    texts = [o.get("text", "") for c in code_cells for o in c.outputs]
    assert "hello 21 b\n" in texts
    results = [o for c in code_cells for o in c.outputs if o.output_type == "execute_result"]
    assert [r["data"]["text/plain"] for r in results] == ["42"]
    # parameters, injected-parameters, print, x * 2
    progress = done["progress"]
    assert progress["cells_total"] == len(code_cells) == 4
    assert progress["cells_done"] == progress["cells_total"]
    assert progress["current_cell"] is None and progress["elapsed"] > 0
    # the input notebook is left as it was
    assert all(not c.get("outputs") for c in nbformat.read(str(nb), as_version=4).cells)
    assert "hello 21 b" in await api.log("ok")


async def test_queue_limit(api: Api, jp_root_dir: Path, executor: Executor) -> None:
    write_notebook(jp_root_dir / "slow.ipynb", "import time\ntime.sleep(3)")
    write_notebook(jp_root_dir / "quick.ipynb", "print('quick')")
    await api.submit("first", "slow.ipynb", output_path="first-out.ipynb", parameters={"x": 2})
    await api.submit("second", "quick.ipynb", output_path="second-out.ipynb")
    code, listing = await api.call("GET")
    assert code == 200 and listing["max_concurrent"] == 1

    # once the first one is in its sleeping cell (after markdown, parameters and
    # injected-parameters), the second one still waits
    await api.wait_for("first", "running", until=lambda m: m["progress"]["current_cell"] == 3)
    for _ in range(5):
        second = await api.get("second")
        assert second["status"] == "pending" and second["started"] is None, second
        assert (await api.get("first"))["status"] == "running"
        await asyncio.sleep(0.1)
    assert executor.get("second").process is None

    first = await api.wait_for("first", *FINAL)
    second = await api.wait_for("second", *FINAL)
    assert first["status"] == second["status"] == "success", (first, second)
    # FIFO, one at a time: the second started once the first was over
    assert first["finished"] <= second["started"]
    assert (jp_root_dir / "first-out.ipynb").exists() and (
        jp_root_dir / "second-out.ipynb"
    ).exists()


async def test_cancel_running(api: Api, jp_root_dir: Path, executor: Executor) -> None:
    pids_file = jp_root_dir / "pids.txt"
    write_notebook(
        jp_root_dir / "long.ipynb",
        PIDS_CELL,
        "import time\ntime.sleep(60)",
        params="PIDS_FILE = ''",
    )
    await api.submit("long", "long.ipynb", parameters={"PIDS_FILE": str(pids_file)})
    kernel_pid, kernel_parent = map(int, (await wait_file(pids_file)).split())
    # markdown, parameters, injected-parameters, PIDS_CELL: the kernel sleeps in cell 4
    running = await api.wait_for(
        "long", "running", until=lambda m: m["progress"]["current_cell"] == 4
    )
    # the executor knows the runner (the kernel's parent) and the kernel
    execution = executor.get("long")
    assert execution.process is not None
    runner_pid = execution.process.pid
    assert execution.kernel_pid == kernel_pid and runner_pid == kernel_parent
    assert alive(runner_pid) and alive(kernel_pid)
    assert running["progress"]["cells_done"] == 3

    code, cancelled = await api.call("POST", "long", "cancel")
    assert code == 200 and cancelled["status"] == "cancelled", cancelled
    assert cancelled["error"] is None and cancelled["finished"]
    survivors = await asyncio.to_thread(wait_gone, runner_pid, kernel_pid)
    assert survivors == [], "runner or kernel survived the cancel"
    assert (await api.get("long"))["status"] == "cancelled"
    code, _ = await api.call("POST", "long", "cancel")
    assert code == 409


async def test_timeout(api: Api, jp_root_dir: Path, executor: Executor) -> None:
    write_notebook(jp_root_dir / "sleep.ipynb", "import time\ntime.sleep(60)")
    model = await api.submit("slow", "sleep.ipynb", timeout=2)
    assert model["timeout"] == 2
    await api.wait_for("slow", "running")
    execution = executor.get("slow")
    assert execution.process is not None
    runner_pid = execution.process.pid

    done = await api.wait_for("slow", *FINAL, timeout=30)
    assert done["status"] == "failed", done
    assert done["error"]["reason"] == "timeout", done["error"]
    assert done["error"]["ename"] == "TimeoutError"
    assert 2 <= done["progress"]["elapsed"] < 15
    pids = [runner_pid] + ([execution.kernel_pid] if execution.kernel_pid else [])
    survivors = await asyncio.to_thread(wait_gone, *pids)
    assert survivors == [], "runner or kernel survived the timeout"
    assert "timeout after 2 s" in await api.log("slow")


async def test_dead_kernel(api: Api, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "dead.ipynb", "import os\nos._exit(1)", "print('never')")
    await api.submit("dead", "dead.ipynb", parameters={"x": 2})
    done = await api.wait_for("dead", *FINAL)
    assert done["status"] == "failed", done
    error = done["error"]
    assert error["reason"] == "kernel died", error
    # markdown, parameters, injected-parameters, os._exit: the kernel died in cell 3
    assert error["cell_index"] == 3, error
    assert "never" not in await api.log("dead")


async def test_missing_kernel(api: Api, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "nokernel.ipynb", "1")
    await api.submit("nokernel", "nokernel.ipynb", kernel_name="nope")
    done = await api.wait_for("nokernel", *FINAL)
    assert done["status"] == "failed", done
    assert done["kernel_name"] == "nope"
    assert done["error"]["reason"] == "kernel not found", done["error"]
    assert done["progress"]["cells_done"] == 0


async def test_cell_error(api: Api, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "err.ipynb", "print('before')", "1/0", "print('never')")
    await api.submit("err", "err.ipynb", output_path="err-out.ipynb", parameters={"x": 2})
    done = await api.wait_for("err", *FINAL)
    assert done["status"] == "failed", done
    error = done["error"]
    assert error["reason"] == "cell error", error
    assert error["ename"] == "ZeroDivisionError"
    # markdown, parameters, injected-parameters, print, 1/0: the raising cell is index 4
    assert error["cell_index"] == 4, error
    assert done["progress"]["cells_total"] == 5 and done["progress"]["cells_done"] == 3
    out = nbformat.read(str(jp_root_dir / "err-out.ipynb"), as_version=4)
    errors = [o for c in out.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [o["ename"] for o in errors] == ["ZeroDivisionError"]
