"""Browser tests of the template form and gallery as JupyterLab users expect them: a
created notebook opens clean, the form proposes a free name, numbers the browser cannot
read are named as such, the service's refusals mark the form's own fields, and the
Delete dialog keeps the template on Enter.

They use the Hub of ``test_e2e_lab`` (its ``lab_hub`` fixture, one Hub for this module)
and its helpers; the template is this module's own.
"""

from __future__ import annotations

import json
import re

import nbformat
from fixtures.browser import login, screenshot
from fixtures.hub import Hub
from notebooks import make_notebook
from playwright.sync_api import expect
from test_e2e_lab import call, field, lab_hub, open_panel, show_tab, wait_for

__all__ = ["lab_hub"]  # the module-scoped Hub fixture, used by this module's tests

CATEGORY = "form"
FILENAME = "form_checks.ipynb"
TEMPLATE = f"{CATEGORY}/{FILENAME}"
PARAMETERS = """rate: float = 0.5  # learning rate
names: list[str] = ["a", "b"]  # columns
n: int = 3
"""


def ensure_template(hub: Hub) -> None:
    """This module's template, uploaded once through the API."""
    r = call(hub, "GET", f"minio/get-template/{TEMPLATE}", "admin")
    if r.status_code == 200:
        return
    r = call(
        hub,
        "POST",
        "minio/upload-template",
        "admin",
        files={"file": (FILENAME, make_notebook(PARAMETERS, kernel="python3", body="print(n)"))},
        data={"category": CATEGORY, "description": "Checks of the template form"},
    )
    assert r.status_code in (200, 201), r.text


def open_form(panel):
    """The detail view of this module's template."""
    show_tab(panel, "Templates")
    panel.locator('input[aria-label="Search templates"]').fill("form_checks")
    entry = panel.locator(f'li.jp-Templates-card[data-template-name="{TEMPLATE}"]')
    expect(entry).to_have_count(1)
    entry.locator(".jp-Templates-cardOpen").click()
    detail = panel.locator(".jp-Templates-detail")
    expect(detail).to_be_visible()
    return detail


def notebook_tab(page, name: str):
    return page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=name)


def test_a_created_notebook_opens_without_unsaved_changes(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    ensure_template(hub)
    page = page_factory("alice")
    login(page, hub.url, "alice")
    detail = open_form(open_panel(page))
    detail.locator('[name="target_directory"]').fill("clean")
    detail.locator('[name="new_name"]').fill("opens_clean")
    detail.get_by_role("button", name="Create", exact=True).click()

    tab = notebook_tab(page, "opens_clean.ipynb")
    expect(tab).to_be_visible()
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook.locator(".jp-Cell")).to_contain_text(["rate = 0.5"])
    # the kernel has started and reported its language (what Lab writes into the
    # notebook's metadata once it knows them)
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=60_000
    )
    path = hub.user_dir("alice") / "clean" / "opens_clean.ipynb"
    written = json.loads(path.read_text())
    dirty = "jp-mod-dirty" in (tab.get_attribute("class") or "")
    if dirty:
        # what Lab changed on load: save, and show the difference in the failure
        page.keyboard.press("Control+s")
        wait_for("the save", lambda: json.loads(path.read_text()) != written)
        saved = json.loads(path.read_text())
        changed = {
            key: (written.get(key), saved.get(key))
            for key in set(written) | set(saved)
            if key != "cells" and written.get(key) != saved.get(key)
        }
        cells = [(a, b) for a, b in zip(written["cells"], saved["cells"], strict=False) if a != b]
        screenshot(page, "form-created-dirty")
        raise AssertionError(f"opened with unsaved changes: {changed!r} {cells[:2]!r}")
    expect(tab).not_to_have_class(re.compile("jp-mod-dirty"))
    nbformat.validate(nbformat.reads(json.dumps(written), as_version=4))
    # an edit of the user's still counts
    notebook.locator(".jp-CodeCell .cm-content").last.click()
    page.keyboard.type("# edited")
    expect(tab).to_have_class(re.compile("jp-mod-dirty"))


def test_the_form_proposes_a_free_name(lab_hub: Hub, page_factory) -> None:
    """A second Create does not clash: the name shown is free in the target folder."""
    hub = lab_hub
    ensure_template(hub)
    folder = hub.user_dir("alice") / "free"
    folder.mkdir(parents=True, exist_ok=True)
    # a notebook of the template's name is there already
    (folder / FILENAME).write_bytes(make_notebook("x = 1"))
    page = page_factory("alice")
    login(page, hub.url, "alice")
    detail = open_form(open_panel(page))
    name = detail.locator('[name="new_name"]')
    detail.locator('[name="target_directory"]').fill("free")
    expect(name).to_have_value("form_checks-1.ipynb")
    create = detail.get_by_role("button", name="Create", exact=True)
    create.click()
    expect(notebook_tab(page, "form_checks-1.ipynb")).to_be_visible()
    assert (folder / "form_checks-1.ipynb").exists()
    # and the next Create gets the next free name
    expect(name).to_have_value("form_checks-2.ipynb")
    create.click()
    expect(notebook_tab(page, "form_checks-2.ipynb")).to_be_visible()
    assert (folder / "form_checks-2.ipynb").exists()


def test_form_errors_say_what_is_wrong_at_the_field(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    ensure_template(hub)
    page = page_factory("alice")
    login(page, hub.url, "alice")
    detail = open_form(open_panel(page))
    creates: list = []
    page.on("request", lambda r: creates.append(r) if "create-from-template" in r.url else None)
    create = detail.get_by_role("button", name="Create", exact=True)

    # a number the browser cannot read as finite is named as such, not "required"
    rate = field(detail, "rate")
    rate.fill("")
    rate.press_sequentially("1e999")
    # a list[str] refuses numbers, in the browser already
    field(detail, "names").fill("[1, 2]")
    create.click()
    rate_error = detail.locator('.jp-Templates-fieldError[data-field="rate"]')
    expect(rate_error).to_contain_text("Not a finite number")
    expect(rate_error).not_to_contain_text("required")
    expect(rate).to_have_attribute("aria-invalid", "true")
    names_error = detail.locator('.jp-Templates-fieldError[data-field="names"]')
    expect(names_error).to_have_text('Expected a list of strings, e.g. ["a", "b"].')
    assert creates == []
    screenshot(page, "form-typed-errors")

    # the service's 409 for an existing file, at the name field, in the form's words
    rate.fill("0.25")
    field(detail, "names").fill('["x"]')
    (hub.user_dir("alice") / "taken").mkdir(parents=True, exist_ok=True)
    (hub.user_dir("alice") / "taken" / "mine.ipynb").write_bytes(make_notebook("x = 1"))
    detail.locator('[name="target_directory"]').fill("taken")
    name = detail.locator('[name="new_name"]')
    name.fill("mine")
    create.click()
    name_error = detail.locator('.jp-Templates-fieldError[data-field="new_name"]')
    expect(name_error).to_contain_text("already exists")
    expect(name_error).to_contain_text('"Overwrite an existing file"')
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(detail).not_to_contain_text("new_name")
    expect(detail).not_to_contain_text("set overwrite")
    assert len(creates) == 1
    # ticking the box answers it
    detail.locator('[name="overwrite"]').check()
    expect(name_error).to_have_count(0)


def test_enter_in_the_delete_dialog_keeps_the_template(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    ensure_template(hub)
    page = page_factory("admin")
    login(page, hub.url, "admin")
    panel = open_panel(page)
    show_tab(panel, "Templates")
    panel.locator('input[aria-label="Search templates"]').fill("form_checks")
    entry = panel.locator(f'li.jp-Templates-card[data-template-name="{TEMPLATE}"]')
    expect(entry).to_have_count(1)
    entry.locator('button[aria-label^="Delete"]').click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible()
    cancel = dialog.get_by_role("button", name="Cancel", exact=True)
    expect(cancel).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    expect(entry).to_have_count(1)
    r = call(hub, "GET", f"minio/get-template/{TEMPLATE}", "admin")
    assert r.status_code == 200, r.text


def test_cancel_of_the_job_form_asks_when_something_was_entered(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    ensure_template(hub)
    page = page_factory("alice")
    login(page, hub.url, "alice")
    detail = open_form(open_panel(page))
    schedule = detail.get_by_role("button", name="Schedule…", exact=True)
    dialog = page.locator(".jp-Dialog")

    # nothing entered: Cancel closes at once
    schedule.click()
    job_form = page.locator(".jp-Templates-jobForm")
    expect(job_form).to_be_visible()
    job_form.get_by_role("button", name="Cancel", exact=True).click()
    expect(job_form).to_have_count(0)
    expect(dialog).to_have_count(0)

    # something entered: Cancel asks, Keep editing is focused and Enter keeps the form
    schedule.click()
    expect(job_form).to_be_visible()
    job_form.locator('[name="job_name"]').fill("my nightly")
    job_form.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Keep editing", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    expect(job_form.locator('[name="job_name"]')).to_have_value("my nightly")
    job_form.get_by_role("button", name="Cancel", exact=True).click()
    dialog.get_by_role("button", name="Discard", exact=True).click()
    expect(job_form).to_have_count(0)


def test_cancelling_a_run_asks_first(lab_hub: Hub, page_factory) -> None:
    """Cancel on a running execution asks; Enter (the focused "Keep running") keeps
    the run, "Cancel run" cancels it."""
    hub = lab_hub
    path = "gallery/sleeps.ipynb"
    target = hub.user_dir("alice") / path
    target.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("print('started')"),
            nbformat.v4.new_code_cell("import time; time.sleep(300)"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, str(target))
    r = call(hub, "POST", "execute-notebook", "alice", json={"notebook_path": path})
    assert r.status_code == 202, r.text
    execution_id = r.json()["execution_id"]
    page = page_factory("alice")
    login(page, hub.url, "alice")
    panel = open_panel(page)
    show_tab(panel, "Executions")
    row = panel.locator(f'.jp-Templates-execution[data-execution-id="{execution_id}"]')
    expect(row).to_have_attribute("data-status", "running")
    row.get_by_role("button", name="Cancel", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("sleeps.ipynb")
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    status = call(hub, "GET", f"execution-status/{execution_id}", "alice").json()["status"]
    assert status == "running"
    row.get_by_role("button", name="Cancel", exact=True).click()
    page.locator(".jp-Dialog").get_by_role("button", name="Cancel run", exact=True).click()
    expect(row).to_have_attribute("data-status", "cancelled", timeout=30_000)
