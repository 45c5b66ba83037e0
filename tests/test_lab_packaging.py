"""The JupyterLab extension as installed (the Lab gallery issue): ``jupyter labextension
list`` shows ``jupyterhub-templates`` enabled and OK, and ``python -m
jupyterlab.browser_check`` passes: JupyterLab starts in a headless browser with the
extension loaded and no console error, JavaScript error or server error logged.

browser_check installs Playwright (npm) in ``<app dir>/browser_test`` (kept between runs, in
the virtualenv), runs ``npx playwright install chromium``, which would download Chrome for
Testing, and launches it. No download here: ``PLAYWRIGHT_BROWSERS_PATH`` points at a
temporary folder laid out like a completed install, built from the installed Playwright's
``browsers.json``, whose browser executables are links to Debian's Chromium
(``make chromium``, part of ``make test``). ``playwright install`` then finds everything
installed and exits 0, and ``chromium.launch()`` starts Debian's Chromium.

browser_check does not open the templates panel; the last test does, in a JupyterLab that
does not run under JupyterHub, and checks that the extension logs no console error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.browser import wait_for_lab
from fixtures.hub import free_port, stop_process, wait_for_http

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = "jupyterhub-templates"
CHROMIUM = Path("/usr/bin/chromium")
PANEL = "#jp-templates-panel"
OPEN_COMMAND = "templates:open"
#: what jupyterlab.browser_check installs in <app dir>/browser_test (same spec, so that it
#: reuses the folder instead of installing again)
PLAYWRIGHT_SPEC = "playwright@^1.9.2"
BROWSER_CHECK_TIMEOUT = 240  # s
#: What `playwright install chromium` installs, with each one's executable, relative to its
#: directory, on linux x64 (EXECUTABLE_PATHS in playwright-core's registry). The directory
#: names and revisions come from the installed Playwright's browsers.json.
FAKE_BROWSERS: dict[str, tuple[str, ...]] = {
    "chromium": ("chrome-linux64", "chrome"),
    # what chromium.launch({headless: true}) starts; Debian's Chromium takes the same flags
    "chromium-headless-shell": ("chrome-headless-shell-linux64", "chrome-headless-shell"),
    "ffmpeg": ("ffmpeg-linux",),  # video recording only: a stub that fails
}
FFMPEG_STUB = "#!/bin/sh\necho 'no ffmpeg: fake Playwright browsers folder' >&2\nexit 1\n"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests use Debian's Chromium; "
            "run 'make test' (or 'make chromium', as root) to install it"
        )


def require_node() -> None:
    missing = [tool for tool in ("node", "npm", "npx") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: browser_check needs Node.js with npm")


def tail(text: str, size: int = 6000) -> str:
    return text if len(text) <= size else "...\n" + text[-size:]


@pytest.fixture
def lab_env(tmp_path: Path) -> dict[str, str]:
    """The environment of the Jupyter commands: this virtualenv first on PATH, no JupyterHub
    variables (Lab must not believe it runs under a Hub), and the user's Jupyter config,
    runtime, Lab settings and workspaces replaced by empty folders (a ``serviceUrl`` set in
    the user's settings, or a saved layout, would change what the extension does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    home = tmp_path / "jupyter"
    for var, name in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
    ]:
        (home / name).mkdir(parents=True)
        env[var] = str(home / name)
    return env


def root_flags() -> list[str]:
    return ["--allow-root"] if os.geteuid() == 0 else []


def test_labextension_list(lab_env: dict[str, str]) -> None:
    """``jupyter labextension list``: the extension, at this version, enabled and OK, from
    this virtualenv's labextensions folder."""
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        env=lab_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # the listing goes to stderr; without a terminal the colour codes stay: strip them
    output = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output
    version = json.loads((ROOT / "package.json").read_text())["version"]
    line = re.search(
        rf"^\s*{re.escape(EXTENSION)} v(\S+) (\S+) (\S+)(.*)$", output, flags=re.MULTILINE
    )
    assert line, f"{EXTENSION} is not listed:\n{output}"
    assert line.group(1) == version, f"listed at v{line.group(1)}, package.json says {version}"
    assert (line.group(2), line.group(3)) == ("enabled", "OK"), line.group(0)
    # listed under the virtualenv's labextensions folder (the first folder line above it)
    folders = re.findall(r"^(/\S+)$", output[: line.start()], flags=re.MULTILINE)
    assert folders, output
    labextensions = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
    assert Path(folders[-1]).resolve() == labextensions.resolve(), output
    assert (labextensions / EXTENSION / "package.json").exists()


def app_dir() -> Path:
    from jupyterlab.commands import get_app_dir

    return Path(get_app_dir())


def ensure_playwright_npm(target: Path, env: dict[str, str]) -> Path:
    """The npm folder browser_check uses (``<app dir>/browser_test``), installed as it
    installs it when missing; kept between runs. Returns playwright-core's browsers.json."""
    browsers_json = target / "node_modules" / "playwright-core" / "browsers.json"
    if not browsers_json.exists():
        target.mkdir(parents=True, exist_ok=True)
        for cmd in (["npm", "init", "-y"], ["npm", "install", PLAYWRIGHT_SPEC]):
            proc = subprocess.run(
                cmd, cwd=target, env=env, capture_output=True, text=True, timeout=300
            )
            assert proc.returncode == 0, f"{cmd} failed in {target}:\n{proc.stdout}{proc.stderr}"
    assert browsers_json.exists(), f"npm installed no playwright-core in {target}"
    return browsers_json


def build_fake_browsers(browsers_json: Path, registry: Path) -> list[Path]:
    """Lay out ``registry`` as Playwright leaves its browsers folder after a successful
    ``playwright install chromium``: per browser a ``<name with _>-<revision>`` directory
    (readDescriptors in playwright-core's registry) holding its executable, the
    INSTALLATION_COMPLETE marker (install skips the download) and DEPENDENCIES_VALIDATED
    (no host-library check on launch). Returns the executables."""
    descriptors = {b["name"]: b for b in json.loads(browsers_json.read_text())["browsers"]}
    executables = []
    for name, relative in FAKE_BROWSERS.items():
        assert name in descriptors, f"{browsers_json} has no {name!r}: update FAKE_BROWSERS"
        # revisionOverrides only concern some macOS versions, not Linux
        directory = registry / f"{name.replace('-', '_')}-{descriptors[name]['revision']}"
        executable = directory.joinpath(*relative)
        executable.parent.mkdir(parents=True, exist_ok=True)
        if name == "ffmpeg":
            executable.write_text(FFMPEG_STUB)
            executable.chmod(0o755)
        else:
            executable.symlink_to(CHROMIUM)
        for marker in ("INSTALLATION_COMPLETE", "DEPENDENCIES_VALIDATED"):
            (directory / marker).touch()
        executables.append(executable)
    return executables


def check_nothing_to_download(target: Path, env: dict[str, str], registry: Path) -> None:
    """``playwright install --dry-run chromium`` lists where each browser it would install
    goes: all must be fake ones, or browser_check would try a download (no internet)."""
    proc = subprocess.run(
        ["npx", "playwright", "install", "--dry-run", "chromium"],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    locations = re.findall(r"Install location:\s*(\S+)", proc.stdout)
    assert locations, f"no install location in:\n{proc.stdout}"
    missing = [loc for loc in locations if not (Path(loc) / "INSTALLATION_COMPLETE").exists()]
    assert not missing, (
        f"this Playwright also installs {missing} for chromium: add it to FAKE_BROWSERS\n"
        + proc.stdout
    )
    assert all(Path(loc).parent == registry for loc in locations), proc.stdout


@pytest.mark.timeout(BROWSER_CHECK_TIMEOUT + 180)
def test_browser_check(lab_env: dict[str, str], tmp_path: Path) -> None:
    """``python -m jupyterlab.browser_check`` exits 0: Lab with the extension starts in
    headless Chromium without any console error (browser_check fails on one)."""
    require_chromium()
    require_node()
    target = app_dir() / "browser_test"
    env = dict(lab_env)
    registry = tmp_path / "ms-playwright"
    env["PLAYWRIGHT_BROWSERS_PATH"] = str(registry)
    env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"  # nothing to fetch when npm installs it
    env.pop("JLAB_BROWSER_TYPE", None)  # chromium
    browsers_json = ensure_playwright_npm(target, env)
    for executable in build_fake_browsers(browsers_json, registry):
        assert os.access(executable, os.X_OK), executable
    check_nothing_to_download(target, env, registry)

    workdir = tmp_path / "root"
    workdir.mkdir()
    started = time.monotonic()
    # its own process group: on a timeout, node and Chromium are stopped with it
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab.browser_check", *root_flags()],
        cwd=workdir,  # the server's root dir
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=BROWSER_CHECK_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        with contextlib.suppress(ProcessLookupError):  # what ignored SIGTERM
            os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=30)
        pytest.fail(f"browser_check still running after {BROWSER_CHECK_TIMEOUT}s:\n{tail(output)}")
    finally:
        stop_process(proc)
    elapsed = time.monotonic() - started
    # browser-test.js prints "Parsed an error from text content: ..." for each console error
    # or JS error, and the server logs an error for a failed step
    assert proc.returncode == 0, (
        f"browser_check exited with {proc.returncode} after {elapsed:.0f}s:\n{tail(output)}"
    )
    assert "Browser test complete" in output, tail(output)  # browser-test.js ran to its end
    assert "Exiting normally" in output, tail(output)
    assert "Parsed an error" not in output, tail(output)
    # this package's server extension was loaded in that server too
    assert "jupyterhub_templates | extension was successfully loaded" in output, tail(output)


@pytest.fixture
def plain_lab(lab_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """JupyterLab alone (no JupyterHub, hence no templates service); its URL with token."""
    port = free_port()
    token = secrets.token_hex(16)
    root = tmp_path / "lab-root"
    root.mkdir()
    log = tmp_path / "lab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                *root_flags(),
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, for its commands
            ],
            cwd=root,
            env=lab_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/status?token={token}", 60, proc, log)
        yield f"http://127.0.0.1:{port}/lab?reset&token={token}"
    finally:
        stop_process(proc)


def test_no_console_error_without_hub(plain_lab: str, page_factory) -> None:
    """Outside JupyterHub the templates service is unknown: opening the panel tells so,
    with no console error, uncaught JavaScript error or failed request (browser_check only
    watches the console until Lab is restored, with the panel closed)."""
    require_chromium()
    page = page_factory("no-hub")
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"[console.{m.type}] {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"[pageerror] {e}"))
    page.on("requestfailed", lambda r: problems.append(f"[requestfailed] {r.url} {r.failure}"))
    page.goto(plain_lab)
    wait_for_lab(page)
    page.wait_for_function(
        f"window.jupyterapp && window.jupyterapp.commands.hasCommand({OPEN_COMMAND!r})"
    )
    page.evaluate("window.jupyterapp.restored")
    page.evaluate(f"window.jupyterapp.commands.execute({OPEN_COMMAND!r})")
    panel = page.locator(PANEL)
    panel.wait_for(state="visible")
    page.wait_for_timeout(3000)  # what the panel does once shown (fetches, polls) happens
    assert panel.inner_text().strip(), "the templates panel shows nothing"
    assert not problems, "\n".join(problems)
