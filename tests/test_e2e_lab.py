"""The JupyterLab gallery in a real browser: Debian's headless Chromium driven by
Playwright (tests/fixtures/browser.py) against a JupyterHub started with the project's
jupyterhub_config.py, which starts the templates service itself as in the demo.

The tests run in file order and build on each other: the admin uploads a template through
the panel, alice creates a notebook from it with the generated form, runs one and watches
the execution, bob sees no admin control, the admin deletes the template. Screenshots of the
gallery, the form and the executions view land in tests/artifacts/ (CI artifacts).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
import requests
from fixtures.browser import login, screenshot
from fixtures.hub import Hub, start_managed_hub, stop_process
from notebooks import make_notebook
from playwright.sync_api import expect

from jupyterhub_templates.statuses import FINAL

pytestmark = pytest.mark.e2e

CATEGORY = "e2e"
FILENAME = "browser_report.ipynb"
TEMPLATE = f"{CATEGORY}/{FILENAME}"
DESCRIPTION = "A report made by the browser tests"
PARAMETERS = """n_rows: int = 5  # rows to show
verbose: bool = False  # print more
title: str = "report"  # the report's title
columns: list = ["a", "b"]  # columns to keep
"""
BODY = "print(title, n_rows, verbose, columns)"
FOLDER = "gallery"
PANEL = "#jp-templates-panel"
RUN_TIMEOUT = 90_000  # ms: a python3 notebook of three cells, through the Hub


@pytest.fixture(scope="module")
def lab_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The Hub with the templates service it starts (examples loaded, no MLflow)."""
    hub = start_managed_hub(
        tmp_path_factory.mktemp("e2e-lab"),
        extra_env={"JUPYTERHUB_TEMPLATES_LOAD_EXAMPLES": "1", "JUPYTERHUB_TEMPLATES_MLFLOW": "0"},
    )
    try:
        yield hub
    finally:
        stop_process(hub.proc)


def call(hub: Hub, method: str, path: str, user: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"token {hub.tokens[user]}"}
    return requests.request(method, hub.service_url + path, headers=headers, timeout=60, **kwargs)


def template_exists(hub: Hub) -> bool:
    r = call(hub, "GET", f"minio/get-template/{TEMPLATE}", "admin")
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


def ensure_template(hub: Hub) -> None:
    """Later tests need the template even when the upload test failed: add it through
    the API then (the upload test still reports its own failure)."""
    if template_exists(hub):
        return
    r = call(
        hub,
        "POST",
        "minio/upload-template",
        "admin",
        files={"file": (FILENAME, make_notebook(PARAMETERS, kernel="python3", body=BODY))},
        data={"category": CATEGORY, "description": DESCRIPTION},
    )
    assert r.status_code in (200, 201), r.text


# -- page helpers ----------------------------------------------------------------------


def open_panel(page):
    """Show the Templates sidebar panel (clicking its tab toggles it: only when hidden)."""
    panel = page.locator(PANEL)
    if not panel.is_visible():
        page.locator(f'.jp-SideBar [data-id="{PANEL[1:]}"]').click()
    expect(panel).to_be_visible()
    return panel


def show_tab(panel, name: str) -> None:
    tab = panel.get_by_role("tab", name=name, exact=True)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")


def cards(panel):
    return panel.locator("li.jp-Templates-card[data-template-name]")


def card(panel, name: str = TEMPLATE):
    return panel.locator(f'li.jp-Templates-card[data-template-name="{name}"]')


def wait_gallery_loaded(panel) -> None:
    """The gallery has listed templates (the examples are always there)."""
    expect(cards(panel).first).to_be_visible()


def search(panel, text: str) -> None:
    box = panel.locator('input[aria-label="Search templates"]')
    box.fill(text)


def open_template(panel, name: str = TEMPLATE):
    """Find the template by search and open its detail view."""
    show_tab(panel, "Templates")
    wait_gallery_loaded(panel)
    search(panel, FILENAME.removesuffix(".ipynb"))
    expect(cards(panel)).to_have_count(1)
    card(panel, name).locator(".jp-Templates-cardOpen").click()
    detail = panel.locator(".jp-Templates-detail")
    expect(detail).to_be_visible()
    return detail


def field(detail, name: str):
    return detail.locator(f'[name="param:{name}"]')


def fill_form(detail, *, new_name: str) -> None:
    field(detail, "n_rows").fill("7")
    field(detail, "verbose").check()
    field(detail, "title").fill("from the browser")
    field(detail, "columns").fill('["x", "y"]')
    detail.locator('[name="target_directory"]').fill(FOLDER)
    detail.locator('[name="new_name"]').fill(new_name)
    expect(detail.locator(".jp-Templates-fieldError")).to_have_count(0)


def injected(nb: nbformat.NotebookNode) -> str:
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, [c.metadata for c in nb.cells]
    return cells[0].source


def outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def assert_injected(source: str) -> None:
    assert "n_rows = 7" in source, source
    assert "verbose = True" in source, source
    assert 'title = "from the browser"' in source or "title = 'from the browser'" in source, source
    assert re.search(r"columns = \[['\"]x['\"], ['\"]y['\"]\]", source), source


# -- the tests ---------------------------------------------------------------------------


def test_admin_uploads_a_template(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    assert not template_exists(hub)
    page = page_factory("admin")
    login(page, hub.url, "admin")
    panel = open_panel(page)
    wait_gallery_loaded(panel)

    upload = panel.locator(".jp-Templates-upload")
    expect(upload).to_be_visible()
    upload.locator('input[type="file"][name="file"]').set_input_files(
        {
            "name": FILENAME,
            "mimeType": "application/x-ipynb+json",
            "buffer": make_notebook(PARAMETERS, kernel="python3", body=BODY),
        }
    )
    upload.locator('input[name="category"]').fill(CATEGORY)
    upload.locator('input[name="description"]').fill(DESCRIPTION)
    upload.get_by_role("button", name="Upload", exact=True).click()

    new = card(panel)
    expect(new).to_be_visible()
    expect(new).to_contain_text(DESCRIPTION)
    info = call(hub, "GET", f"minio/get-template/{TEMPLATE}", "alice").json()["template"]
    assert info["kernel_name"] == "python3"
    assert {p["name"] for p in info["parameters"]} == {"n_rows", "verbose", "title", "columns"}
    new.scroll_into_view_if_needed()
    screenshot(page, "gallery")


def test_user_creates_a_notebook_from_the_form(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    ensure_template(hub)
    page = page_factory("alice")
    login(page, hub.url, "alice")
    panel = open_panel(page)
    detail = open_template(panel)

    # the form generated from the inferred parameters, defaults filled in
    n_rows, verbose, title, columns = (
        field(detail, n) for n in ("n_rows", "verbose", "title", "columns")
    )
    expect(n_rows).to_have_attribute("type", "number")
    expect(n_rows).to_have_value("5")
    expect(verbose).to_have_attribute("type", "checkbox")
    expect(verbose).not_to_be_checked()
    expect(title).to_have_attribute("type", "text")
    expect(title).to_have_value("report")
    assert columns.evaluate("e => e.tagName") == "TEXTAREA"
    assert json.loads(columns.input_value()) == ["a", "b"]
    # each parameter's help comment is shown
    expect(detail).to_contain_text("rows to show")

    # an invalid int is flagged in the browser: nothing is sent to the service
    creates = []
    page.on("request", lambda r: creates.append(r) if "create-from-template" in r.url else None)
    n_rows.fill("1.5")
    create = detail.get_by_role("button", name="Create", exact=True)
    create.click()
    error = detail.locator('.jp-Templates-fieldError[data-field="n_rows"]')
    expect(error).to_be_visible()
    expect(n_rows).to_have_attribute("aria-invalid", "true")
    assert creates == []
    screenshot(page, "form-invalid")

    fill_form(detail, new_name="alice_report")
    expect(error).to_have_count(0)
    screenshot(page, "form")
    create.click()

    # the new notebook opens in Lab
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="alice_report.ipynb")
    expect(tab).to_be_visible()
    expect(page.locator(".jp-NotebookPanel:visible")).to_have_count(1)
    # with the injected parameters, in alice's server
    path = hub.user_dir("alice") / FOLDER / "alice_report.ipynb"
    assert path.exists()
    assert_injected(injected(nbformat.read(str(path), as_version=4)))
    # Lab shows that content too
    expect(page.locator(".jp-NotebookPanel:visible .jp-Cell")).to_contain_text(["n_rows = 7"])


def test_user_creates_and_runs_and_watches_it(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    ensure_template(hub)
    page = page_factory("alice")
    login(page, hub.url, "alice")
    panel = open_panel(page)
    detail = open_template(panel)
    fill_form(detail, new_name="alice_run")
    detail.get_by_role("button", name="Create and run", exact=True).click()

    # the execution, as the service knows it
    path = f"{FOLDER}/alice_run.ipynb"
    deadline = time.monotonic() + 30
    while True:
        runs = call(hub, "GET", "executions", "alice").json()["executions"]
        mine = [e for e in runs if e.get("notebook_path") == path]
        if mine:
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.5)
    execution_id = mine[0]["execution_id"]

    executions = panel.locator(".jp-Templates-executions")
    if not executions.is_visible():
        show_tab(panel, "Executions")
    expect(executions).to_be_visible()
    row = executions.locator(f'.jp-Templates-execution[data-execution-id="{execution_id}"]')
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-status", "success", timeout=RUN_TIMEOUT)
    progress = row.locator("progress")
    expect(progress).to_have_count(1)
    value, maximum = progress.evaluate("p => [p.value, p.max]")
    assert maximum > 0 and value == maximum, (value, maximum)

    # a Lab notification says that the run ended, with a button to open its output
    toast = page.locator(".Toastify__toast", has_text="finished")
    expect(toast).to_have_count(1)
    expect(toast).to_be_in_viewport()
    expect(toast).to_contain_text(f"Execution {execution_id} finished: success")
    page.wait_for_timeout(500)  # the toast slides in
    screenshot(page, "executions")

    final = call(hub, "GET", f"execution-status/{execution_id}", "alice").json()
    assert final["status"] == "success", final
    out = nbformat.read(str(hub.user_dir("alice") / final["output_path"]), as_version=4)
    assert_injected(injected(out))
    assert any(o.get("text", "").startswith("from the browser 7 True") for o in outputs(out))

    toast.get_by_role("button", name="Open output").click()
    output_name = final["output_path"].rsplit("/", 1)[-1]
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=output_name)
    expect(tab).to_be_visible()


def test_a_secret_parameter_is_a_password_field_given_to_the_run_only(
    lab_hub: Hub, page_factory
) -> None:
    hub = lab_hub
    filename = "browser_secret.ipynb"
    r = call(
        hub,
        "POST",
        "minio/upload-template",
        "admin",
        files={
            "file": (
                filename,
                make_notebook(
                    'token: "Secret" = ""  # the API token\nrows = 2',
                    kernel="python3",
                    body="import hashlib\nprint(hashlib.sha256(token.encode()).hexdigest())",
                ),
            )
        },
        data={"category": CATEGORY, "description": "A template with a secret"},
    )
    assert r.status_code in (200, 201), r.text
    token = "browser-" + secrets.token_hex(12)
    page = page_factory("alice")
    login(page, hub.url, "alice")
    panel = open_panel(page)
    show_tab(panel, "Templates")
    wait_gallery_loaded(panel)
    search(panel, "browser_secret")
    expect(cards(panel)).to_have_count(1)
    card(panel, f"{CATEGORY}/{filename}").locator(".jp-Templates-cardOpen").click()
    detail = panel.locator(".jp-Templates-detail")
    secret = field(detail, "token")
    expect(secret).to_have_attribute("type", "password")
    expect(secret).to_have_value("")
    expect(detail.locator('[data-param="token"] .jp-Templates-paramHint')).to_have_text("secret")
    secret.fill(token)
    detail.locator('[name="target_directory"]').fill(FOLDER)
    detail.locator('[name="new_name"]').fill("secret_run")
    screenshot(page, "form-secret")
    detail.get_by_role("button", name="Create and run", exact=True).click()

    path = f"{FOLDER}/secret_run.ipynb"
    deadline = time.monotonic() + RUN_TIMEOUT / 1000
    while True:
        runs = call(hub, "GET", "executions", "alice").json()["executions"]
        mine = [e for e in runs if e.get("notebook_path") == path and e["status"] in FINAL]
        if mine:
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.5)
    (final,) = mine
    assert final["status"] == "success" and final["secrets"] == ["token"], final
    out = (hub.user_dir("alice") / final["output_path"]).read_text()
    assert hashlib.sha256(token.encode()).hexdigest() in out  # the kernel had it
    for where in (out, (hub.user_dir("alice") / path).read_text(), hub.log.read_text()):
        assert token not in where


def test_normal_user_sees_no_admin_controls(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    ensure_template(hub)
    page = page_factory("bob")
    # the panel asks the service who the user is (GET /services/templates/) before it
    # decides to show admin controls: wait for that answer, or "none shown" proves nothing
    whoami = []
    root = re.compile(r"/services/templates/(\?.*)?$")
    page.on("response", lambda r: whoami.append(r) if root.search(r.url) else None)
    login(page, hub.url, "bob")
    panel = open_panel(page)
    wait_gallery_loaded(panel)
    expect(card(panel)).to_be_visible()
    deadline = time.monotonic() + 15
    while not whoami:
        assert time.monotonic() < deadline, "the panel never asked the service who bob is"
        page.wait_for_timeout(200)
    assert whoami[-1].ok and whoami[-1].json()["templates_admin"] is False
    expect(panel.locator(".jp-Templates-upload")).to_have_count(0)
    expect(panel.locator('button[aria-label^="Delete"]')).to_have_count(0)
    assert call(hub, "DELETE", f"minio/delete-template/{TEMPLATE}", "bob").status_code == 403


def test_group_template_admin_sees_admin_controls(lab_hub: Hub, page_factory) -> None:
    """carol is no Hub admin, but a member of the group template-admins: her Lab token
    carries custom:templates:admin, and the panel shows her the admin controls."""
    hub = lab_hub
    ensure_template(hub)
    page = page_factory("carol")
    login(page, hub.url, "carol")
    panel = open_panel(page)
    wait_gallery_loaded(panel)
    expect(panel.locator(".jp-Templates-upload")).to_be_visible()
    expect(card(panel).locator('button[aria-label^="Delete"]')).to_be_visible()


def test_admin_deletes_the_template(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    ensure_template(hub)
    page = page_factory("admin")
    login(page, hub.url, "admin")
    panel = open_panel(page)
    show_tab(panel, "Templates")
    wait_gallery_loaded(panel)
    target = card(panel)
    expect(target).to_be_visible()
    target.locator('button[aria-label^="Delete"]').click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(dialog).to_have_count(0)
    expect(target).to_have_count(0)
    assert not template_exists(hub)
