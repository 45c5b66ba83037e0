"""The JupyterLab gallery in a real browser: Debian's headless Chromium driven by
Playwright (tests/fixtures/browser.py) against a JupyterHub started with the project's
jupyterhub_config.py, which starts the templates service itself as in the demo.

The tests run in file order and build on each other: the admin uploads a template through
the panel, alice creates a notebook from it with the generated form, runs one and watches
the execution, schedules a job from the form and pauses, resumes, runs and deletes it in the
Jobs tab, runs an ended execution again, bob sees no admin control, the admin deletes the
template. Screenshots of the gallery, the form, the executions view, the job form and the
Jobs tab land in tests/artifacts/ (CI artifacts).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import secrets
import time
import zoneinfo
from collections.abc import Callable, Iterator
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
JOB = "browser nightly"
JOB_SCHEDULE = "0 3 * * *"
JOB_ZONE = "Europe/Berlin"
#: the parameters fill_form enters, as the service records them
FORM_PARAMETERS = {"n_rows": 7, "verbose": True, "title": "from the browser", "columns": ["x", "y"]}


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


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30) -> Any:
    """``probe()``'s first truthy answer, asked every half second for at most ``timeout``
    seconds (the test fails with ``what`` and the last answer after that)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s ({answer!r})"
        time.sleep(0.5)


def jobs_named(hub: Hub, user: str, name: str) -> list[dict]:
    r = call(hub, "GET", "jobs", user)
    assert r.status_code == 200, r.text
    return [j for j in r.json()["jobs"] if j["name"] == name]


def the_job(hub: Hub) -> dict:
    """alice's job made by the scheduling test, or one made through the API when that test
    failed (it still reports its own failure)."""
    found = jobs_named(hub, "alice", JOB)
    if found:
        return found[0]
    ensure_template(hub)
    r = call(
        hub,
        "POST",
        "jobs",
        "alice",
        json={
            "name": JOB,
            "template_name": TEMPLATE,
            "parameters": FORM_PARAMETERS,
            "schedule": JOB_SCHEDULE,
            "timezone": JOB_ZONE,
            "target_directory": FOLDER,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


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


def fill_parameters(detail) -> None:
    field(detail, "n_rows").fill("7")
    field(detail, "verbose").check()
    field(detail, "title").fill("from the browser")
    field(detail, "columns").fill('["x", "y"]')


def fill_form(detail, *, new_name: str) -> None:
    fill_parameters(detail)
    detail.locator('[name="target_directory"]').fill(FOLDER)
    detail.locator('[name="new_name"]').fill(new_name)
    expect(detail.locator(".jp-Templates-fieldError")).to_have_count(0)


def job_row(panel, job_id: int):
    return panel.locator(f'.jp-Templates-job[data-job-id="{job_id}"]')


def open_jobs(panel):
    show_tab(panel, "Jobs")
    jobs = panel.locator(".jp-Templates-jobs")
    expect(jobs).to_be_visible()
    return jobs


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


SECRET_FILENAME = "browser_secret.ipynb"


def upload_secret_template(hub: Hub) -> None:
    """A template whose ``token`` is secret; the run prints only its digest."""
    r = call(
        hub,
        "POST",
        "minio/upload-template",
        "admin",
        files={
            "file": (
                SECRET_FILENAME,
                make_notebook(
                    'token: "Secret" = ""  # the API token\nrows = 2',
                    kernel="python3",
                    body="import hashlib\nprint(hashlib.sha256(token.encode()).hexdigest())",
                ),
            )
        },
        data={"category": CATEGORY, "description": "A template with a secret", "overwrite": "true"},
    )
    assert r.status_code in (200, 201), r.text


def test_a_secret_parameter_is_a_password_field_given_to_the_run_only(
    lab_hub: Hub, page_factory
) -> None:
    hub = lab_hub
    filename = SECRET_FILENAME
    upload_secret_template(hub)
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


def test_user_schedules_a_job_from_the_form(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    ensure_template(hub)
    assert jobs_named(hub, "alice", JOB) == []
    page = page_factory("alice")
    login(page, hub.url, "alice")
    panel = open_panel(page)
    detail = open_template(panel)
    fill_parameters(detail)
    detail.locator('[name="target_directory"]').fill(FOLDER)
    detail.get_by_role("button", name="Schedule…", exact=True).click()

    form = detail.locator(".jp-Templates-jobForm")
    expect(form).to_be_visible()
    # filled in: the template's name, the form's folder, the browser's time zone
    expect(form.locator('[name="job_name"]')).to_have_value("browser_report")
    expect(form.locator('[name="job_name"]')).to_be_focused()
    expect(form.locator('[name="job_target_directory"]')).to_have_value(FOLDER)
    browser_zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    expect(form.locator('[name="job_timezone"]')).to_have_value(browser_zone)
    expect(form).to_contain_text("minute hour day-of-month month weekday")

    form.locator('[name="job_name"]').fill(JOB)
    form.locator('[name="job_schedule"]').fill("")
    form.get_by_role("button", name="0 9 * * 1-5").click()  # an example fills the field
    expect(form.locator('[name="job_schedule"]')).to_have_value("0 9 * * 1-5")
    expect(form.locator(".jp-Templates-cronSummary")).to_have_text(
        "Every weekday (Monday to Friday) at 09:00"
    )
    form.locator('[name="job_schedule"]').fill(JOB_SCHEDULE)
    expect(form.locator(".jp-Templates-cronSummary")).to_have_text("Every day at 03:00")
    form.locator('[name="job_overlap"]').select_option("queue")

    # a time zone the service does not know: its refusal is shown next to that field
    form.locator('[name="job_timezone"]').fill("Mars/Olympus")
    form.get_by_role("button", name="Schedule", exact=True).click()
    zone_error = form.locator('.jp-Templates-fieldError[data-field="job_timezone"]')
    expect(zone_error).to_contain_text("Unknown time zone")
    expect(form.locator('[name="job_timezone"]')).to_have_attribute("aria-invalid", "true")
    assert jobs_named(hub, "alice", JOB) == []
    screenshot(page, "job-form")

    form.locator('[name="job_timezone"]').fill(JOB_ZONE)
    expect(zone_error).to_have_count(0)
    form.get_by_role("button", name="Schedule", exact=True).click()

    # the Jobs tab shows it, with its next run
    jobs = panel.locator(".jp-Templates-jobs")
    expect(jobs).to_be_visible()
    expect(panel.get_by_role("tab", name="Jobs", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )
    (job,) = jobs_named(hub, "alice", JOB)
    assert job["template_name"] == TEMPLATE
    assert job["parameters"] == FORM_PARAMETERS
    assert (job["schedule"], job["timezone"]) == (JOB_SCHEDULE, JOB_ZONE)
    assert (job["overlap"], job["missed"], job["active"]) == ("queue", "once", True)
    assert job["target_directory"] == FOLDER and "last_run" not in job
    # the next slot is the next 03:00 in Berlin
    berlin = zoneinfo.ZoneInfo(JOB_ZONE)
    now = datetime.datetime.now(berlin)
    slot = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if slot <= now:
        slot = (now + datetime.timedelta(days=1)).replace(hour=3, minute=0, second=0, microsecond=0)
    next_run = datetime.datetime.fromisoformat(job["next_run_at"].replace("Z", "+00:00"))
    assert next_run == slot, (job["next_run_at"], slot)

    row = job_row(panel, job["id"])
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-active", "true")
    expect(row).to_contain_text(JOB)
    expect(row.locator(".jp-Templates-jobTemplate")).to_have_text(TEMPLATE)
    expect(row.locator(".jp-Templates-jobSchedule")).to_contain_text("Every day at 03:00")
    expect(row.locator(".jp-Templates-jobSchedule")).to_contain_text(JOB_ZONE)
    expect(row.locator(".jp-Templates-jobLast")).to_have_text("None yet")
    # the next run in the browser's local time
    hour, minute, day = page.evaluate(
        "iso => { const d = new Date(iso); return [d.getHours(), d.getMinutes(), d.getDate()]; }",
        job["next_run_at"],
    )
    local = f"{hour % 12 or 12:02d}:{minute:02d} {'AM' if hour < 12 else 'PM'}"
    expect(row.locator(".jp-Templates-jobNext")).to_contain_text(local)
    expect(row.locator(".jp-Templates-jobNext")).to_contain_text(f" {day},")
    toast = page.locator(".Toastify__toast", has_text=f'Scheduled "{JOB}"')
    expect(toast).to_be_in_viewport(ratio=1)
    screenshot(page, "jobs")


def test_user_pauses_and_resumes_a_job(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    job = the_job(hub)
    page = page_factory("alice")
    login(page, hub.url, "alice")
    panel = open_panel(page)
    open_jobs(panel)
    row = job_row(panel, job["id"])
    expect(row).to_have_attribute("data-active", "true")

    row.get_by_role("button", name="Pause", exact=True).click()
    expect(row).to_have_attribute("data-active", "false")
    expect(row.locator(".jp-Templates-jobNext")).to_have_text("Paused")
    expect(row.get_by_role("button", name="Resume", exact=True)).to_be_visible()
    paused = call(hub, "GET", f"jobs/{job['id']}", "alice").json()
    assert paused["active"] is False and paused["next_run_at"] is None, paused
    screenshot(page, "jobs-paused")

    row.get_by_role("button", name="Resume", exact=True).click()
    expect(row).to_have_attribute("data-active", "true")
    expect(row.locator(".jp-Templates-jobNext")).not_to_have_text("Paused")
    resumed = call(hub, "GET", f"jobs/{job['id']}", "alice").json()
    assert resumed["active"] is True and resumed["next_run_at"] is not None, resumed
    # it goes on from the next slot after now
    upcoming = datetime.datetime.fromisoformat(resumed["next_run_at"].replace("Z", "+00:00"))
    assert upcoming > datetime.datetime.now(datetime.timezone.utc), resumed


def test_run_now_starts_a_run_that_the_history_shows_ending(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    job = the_job(hub)
    page = page_factory("alice")
    login(page, hub.url, "alice")
    panel = open_panel(page)
    open_jobs(panel)
    row = job_row(panel, job["id"])
    row.get_by_role("button", name="Run now", exact=True).click()

    # the history opens on its own with the new run, which ends successfully
    history = row.locator(".jp-Templates-jobHistory")
    expect(history).to_be_visible()
    run = history.locator(".jp-Templates-jobRun").first
    expect(run).to_be_visible()
    expect(run).to_have_attribute("data-outcome", "success", timeout=RUN_TIMEOUT)
    expect(row.locator(".jp-Templates-jobLast [data-status]")).to_have_attribute(
        "data-status", "success", timeout=15_000
    )
    screenshot(page, "job-history")

    # as the service knows it: one run, asked for, dispatched, its execution a success
    runs = call(hub, "GET", f"jobs/{job['id']}/runs", "alice").json()["runs"]
    assert len(runs) == 1, runs
    (done,) = runs
    assert done["slot"] is None and done["state"] == "dispatched", done
    assert done["execution"]["status"] == "success", done
    assert run.get_attribute("data-run-id") == str(done["id"])
    path = hub.user_dir("alice") / done["notebook_path"]
    assert done["notebook_path"].startswith(f"{FOLDER}/browser-nightly-"), done
    out = nbformat.read(str(path), as_version=4)
    assert_injected(injected(out))
    assert any(o.get("text", "").startswith("from the browser 7 True") for o in outputs(out))

    # its execution, shown in the Executions tab
    execution_id = done["execution_id"]
    run.get_by_role("button", name=f"Execution #{execution_id}").click()
    focused = panel.locator(f'.jp-Templates-execution[data-execution-id="{execution_id}"]')
    expect(focused).to_have_class(re.compile(r"\bjp-mod-focused\b"))
    expect(focused).to_have_attribute("data-status", "success")


def test_a_job_is_deleted_only_when_confirmed(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    job = the_job(hub)
    page = page_factory("alice")
    login(page, hub.url, "alice")
    panel = open_panel(page)
    open_jobs(panel)
    row = job_row(panel, job["id"])
    dialog = page.locator(".jp-Dialog")

    # Enter takes the default button: Cancel
    row.get_by_role("button", name="Delete", exact=True).click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(JOB)
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    assert call(hub, "GET", f"jobs/{job['id']}", "alice").status_code == 200
    expect(row).to_be_visible()

    row.get_by_role("button", name="Delete", exact=True).click()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(dialog).to_have_count(0)
    expect(row).to_have_count(0)
    assert call(hub, "GET", f"jobs/{job['id']}", "alice").status_code == 404


def ended_execution(hub: Hub) -> dict:
    """An ended run of alice's (from the tests above, or made through the API)."""
    listed = call(hub, "GET", "executions", "alice").json()["executions"]
    # a run of "Create and run" (a new output beside its notebook), given no secrets
    ended = [
        e
        for e in listed
        if e["status"] == "success" and e.get("parameters") and not e.get("in_place")
    ]
    ended = [e for e in ended if not e.get("secrets")]
    if ended:
        return ended[0]
    ensure_template(hub)
    r = call(
        hub,
        "POST",
        "create-from-template",
        "alice",
        json={
            "template_name": TEMPLATE,
            "target_directory": FOLDER,
            "new_name": "rerun_source",
            "parameters": FORM_PARAMETERS,
            "overwrite": True,
        },
    )
    assert r.status_code == 201, r.text
    r = call(
        hub,
        "POST",
        "execute-notebook",
        "alice",
        json={"notebook_path": f"{FOLDER}/rerun_source.ipynb"},
    )
    assert r.status_code == 202, r.text
    execution_id = r.json()["execution_id"]

    def final() -> dict | None:
        e = call(hub, "GET", f"execution-status/{execution_id}", "alice").json()
        return e if e["status"] in FINAL else None

    return wait_for("the run to end", final, RUN_TIMEOUT / 1000)


def test_run_again_makes_a_new_execution_that_ends(lab_hub: Hub, page_factory) -> None:
    hub = lab_hub
    before = ended_execution(hub)
    old_id = before["execution_id"]
    page = page_factory("alice")
    login(page, hub.url, "alice")
    panel = open_panel(page)
    show_tab(panel, "Executions")
    rows = panel.locator(".jp-Templates-execution")
    old = panel.locator(f'.jp-Templates-execution[data-execution-id="{old_id}"]')
    expect(old).to_have_attribute("data-status", "success")
    # active runs have no "Run again"; ended ones do
    expect(old.get_by_role("button", name="Run again", exact=True)).to_be_visible()
    old.get_by_role("button", name="Run again", exact=True).click()

    # the new run, as the service knows it, is shown at the top and ends
    def rerun() -> list[dict]:
        listed = call(hub, "GET", "executions", "alice").json()["executions"]
        return [e for e in listed if e.get("rerun_of") == old_id]

    (made,) = wait_for("the run made by Run again", rerun)
    new_id = made["execution_id"]
    top = rows.first
    expect(top).to_have_attribute("data-execution-id", str(new_id))
    expect(top).to_contain_text(f"run again of #{old_id}")
    expect(top).to_have_attribute("data-status", "success", timeout=RUN_TIMEOUT)
    expect(top.get_by_role("button", name="Run again", exact=True)).to_be_visible()
    toast = page.locator(".Toastify__toast", has_text=f"Execution {new_id} finished")
    expect(toast).to_be_in_viewport(ratio=1)
    screenshot(page, "run-again")

    after = call(hub, "GET", f"execution-status/{new_id}", "alice").json()
    assert after["status"] == "success" and after["rerun_of"] == old_id, after
    assert after["notebook_path"] == before["notebook_path"]
    assert after["parameters"] == before["parameters"]
    assert after["output_path"] != before["output_path"], after
    out = nbformat.read(str(hub.user_dir("alice") / after["output_path"]), as_version=4)
    assert_injected(injected(out))


def test_run_again_asks_for_the_secrets_again(lab_hub: Hub, page_factory) -> None:
    """Secret values are never stored: Run again on a run that had secrets asks for
    them in password fields, and the new run's kernel gets the values given there."""
    hub = lab_hub
    upload_secret_template(hub)
    r = call(
        hub,
        "POST",
        "create-from-template",
        "alice",
        json={
            "template_name": f"{CATEGORY}/{SECRET_FILENAME}",
            "target_directory": FOLDER,
            "new_name": "secret_again",
            "overwrite": True,
        },
    )
    assert r.status_code == 201, r.text
    first, second = ("again-" + secrets.token_hex(12) for _ in range(2))
    r = call(
        hub,
        "POST",
        "execute-notebook",
        "alice",
        json={"notebook_path": f"{FOLDER}/secret_again.ipynb", "secrets": {"token": first}},
    )
    assert r.status_code == 202, r.text
    old_id = r.json()["execution_id"]

    def ended(execution_id: int) -> Callable[[], dict | None]:
        def probe() -> dict | None:
            e = call(hub, "GET", f"execution-status/{execution_id}", "alice").json()
            return e if e["status"] in FINAL else None

        return probe

    wait_for("the run with a secret to end", ended(old_id), RUN_TIMEOUT / 1000)

    page = page_factory("alice")
    login(page, hub.url, "alice")
    panel = open_panel(page)
    show_tab(panel, "Executions")
    old = panel.locator(f'.jp-Templates-execution[data-execution-id="{old_id}"]')
    old.get_by_role("button", name="Run again", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    secret = dialog.locator('input[name="secret:token"]')
    expect(secret).to_have_attribute("type", "password")
    expect(secret).to_have_value("")  # the first run's value is nowhere to be had
    expect(dialog).to_contain_text("Value of token")
    secret.fill(second)
    screenshot(page, "run-again-secrets")
    dialog.get_by_role("button", name="Run again", exact=True).click()

    def rerun() -> list[dict]:
        listed = call(hub, "GET", "executions", "alice").json()["executions"]
        return [e for e in listed if e.get("rerun_of") == old_id]

    (made,) = wait_for("the run made by Run again", rerun)
    final = wait_for("the run again to end", ended(made["execution_id"]), RUN_TIMEOUT / 1000)
    assert final["status"] == "success" and final["secrets"] == ["token"], final
    out = (hub.user_dir("alice") / final["output_path"]).read_text()
    assert hashlib.sha256(second.encode()).hexdigest() in out  # the kernel had the new value
    assert second not in out and first not in out
    assert second not in hub.log.read_text()


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
