"""Job schedules, definitions and records, without a Hub: the cron slots a schedule
fires (time zones, lateness, missed slots), the checks of a definition, and firing on
SQLite (each slot once, overlap policies, pause)."""

from __future__ import annotations

import datetime

import pytest
from records import new_execution
from sqlalchemy import select

from jupyterhub_templates.db import Database
from jupyterhub_templates.db.models import JobRun
from jupyterhub_templates.errors import InvalidInput
from jupyterhub_templates.execution.records import ExecutionRecords
from jupyterhub_templates.jobs.definitions import check_spec, notebook_name
from jupyterhub_templates.jobs.records import JobRecords
from jupyterhub_templates.jobs.schedule import due_slots, next_slot
from jupyterhub_templates.statuses import JobRunState

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 2, 12, 0, 0, 500000, tzinfo=UTC)
EVERY_5S = "* * * * * */5"


def s(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=seconds)


def test_slots_follow_the_time_zone_across_daylight_saving() -> None:
    # 03:00 in Berlin: 02:00 UTC in winter, 01:00 UTC in summer
    winter = next_slot("0 3 * * *", "Europe/Berlin", datetime.datetime(2026, 3, 28, tzinfo=UTC))
    summer = next_slot("0 3 * * *", "Europe/Berlin", winter)
    assert winter == datetime.datetime(2026, 3, 28, 2, 0, tzinfo=UTC)
    assert summer == datetime.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_late_slots_fire_each_once_and_missed_ones_by_policy() -> None:
    # 20 s late (a replica taking over): every slot fires, each on its own
    due = due_slots(EVERY_5S, "UTC", NOW - s(20.5), NOW, grace=60, missed="skip")
    assert [d.second for d in due.fire] == [40, 45, 50, 55, 0]
    assert due.next_run_at == NOW + s(4.5)
    # two days down: one run for the missed slots, or none; on-time slots fire anyway
    start = NOW - datetime.timedelta(days=2) - s(0.5)
    once = due_slots(EVERY_5S, "UTC", start, NOW, grace=7, missed="once")
    skip = due_slots(EVERY_5S, "UTC", start, NOW, grace=7, missed="skip")
    assert once.fire == skip.fire == [NOW - s(5.5), NOW - s(0.5)]
    hourly_once = due_slots("0 * * * *", "UTC", NOW - s(7200.5), NOW, grace=60, missed="once")
    hourly_skip = due_slots("0 * * * *", "UTC", NOW - s(7200.5), NOW, grace=60, missed="skip")
    assert hourly_once.fire == hourly_skip.fire == [NOW - s(0.5)]  # on time: the missed go
    assert hourly_once.passed_over == 2
    late_only = due_slots(
        "0 * * * *", "UTC", NOW - s(7200.5), NOW - s(120), grace=60, missed="once"
    )
    assert late_only.fire == [NOW - s(3600.5)]
    assert (
        due_slots("0 * * * *", "UTC", NOW - s(7200.5), NOW - s(120), grace=60, missed="skip").fire
        == []
    )


@pytest.mark.parametrize(
    "body, message",
    [
        ({"template_name": "a/b.ipynb"}, "name is required"),
        ({"name": "x"}, "template_name is required"),
        ({"name": "x", "template_name": "a/b.ipynb", "schedule": "every day"}, "not a cron"),
        ({"name": "x", "template_name": "a/b.ipynb", "schedule": EVERY_5S}, "more often"),
        ({"name": "x", "template_name": "a/b.ipynb", "timezone": "Mars/Base"}, "time zone"),
        ({"name": "x", "template_name": "a/b.ipynb", "overlap": "both"}, "overlap"),
        ({"name": "x", "template_name": "a/b.ipynb", "missed": "all"}, "missed"),
        ({"name": "x", "template_name": "a/b.ipynb", "name_pattern": "{job.__class__}"}, "braces"),
        ({"name": "x", "template_name": "a/b.ipynb", "name_pattern": "{date:>99}"}, "braces"),
        ({"name": "x", "template_name": "a/b.ipynb", "name_pattern": "../{job}.ipynb"}, "name"),
        ({"name": "x", "template_name": "a/b.ipynb", "target_directory": "../up"}, "target"),
        ({"name": "x", "template_name": "a/b.ipynb", "timeout": 0}, "timeout"),
        ({"name": "x", "template_name": "a/b.ipynb", "template_version": 0}, "version"),
        ({"name": "x", "template_name": "a/b.ipynb", "parameters": [1]}, "parameters"),
        ({"name": "x", "template_name": "a/b.ipynb", "owner": "eve"}, "Unknown field"),
        ({"name": "x", "template_name": "a/b.ipynb", "limits": [1]}, "limits must be"),
        ({"name": "x", "template_name": "a/b.ipynb", "limits": {"cpu_seconds": "9"}}, "cpu"),
        ({"name": "x", "template_name": "a/b.ipynb", "limits": {"memory_mb": 4096}}, "at most"),
    ],
)
def test_bad_definitions_are_refused(body: dict, message: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_spec(body, min_interval=60, max_timeout=3600, memory_limit=2048)
    assert message in e.value.message


def test_a_jobs_limits_are_what_it_asks_below_the_caps() -> None:
    body = {"name": "x", "template_name": "a/b.ipynb"}
    assert check_spec(body, min_interval=60, max_timeout=3600).limits is None
    asked = {**body, "limits": {"memory_mb": 512, "cpu_seconds": 30}}
    spec = check_spec(asked, min_interval=60, max_timeout=3600, memory_limit=1024, cpu_limit=60)
    assert spec.limits == {"memory_mb": 512, "cpu_seconds": 30}
    # a change that does not name limits keeps them
    before = {**asked, "limits": spec.limits}
    changed = check_spec({"timeout": 5}, min_interval=60, max_timeout=3600, before=before)
    assert changed.limits == spec.limits


def test_names_come_from_the_pattern() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    assert notebook_name("{job}-{datetime}.ipynb", "Nightly run!", when, 7) == (
        "Nightly-run-20260102-030405.ipynb"
    )
    assert notebook_name("{date}/{time}-{run}.ipynb".replace("/", "_"), "j", when, 7) == (
        "2026-01-02_030405-7.ipynb"
    )


@pytest.fixture
def jobs(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    db.upgrade()
    executions = ExecutionRecords(db)
    yield JobRecords(db, executions.describe), executions
    db.dispose()


def _job(records: JobRecords, **changes) -> dict:
    spec = check_spec(
        {"name": "j", "template_name": "a/b.ipynb", "schedule": EVERY_5S, **changes},
        min_interval=1,
        max_timeout=3600,
    )
    return records.create("alice", spec)


def _runs(records: JobRecords, job_id: int) -> list[JobRun]:
    with records.db.session() as session:
        return list(session.scalars(select(JobRun).where(JobRun.job_id == job_id)))


HOURLY = "0 * * * *"
#: all three slots are on time: each fires on its own
GRACE = 3 * 3600 + 60


def _make_due(records: JobRecords, job_id: int, slots: int) -> None:
    """Make exactly ``slots`` hourly slots due: the last one this hour's, so that no
    further slot falls due while the test runs (unless it runs across an hour)."""
    from jupyterhub_templates.db.models import Job, utcnow

    this_hour = next_slot(HOURLY, "UTC", utcnow() - s(3600))
    with records.db.write_session() as session:
        job = session.get(Job, job_id)
        job.next_run_at = this_hour - s(3600 * (slots - 1))
        session.commit()


def test_each_slot_fires_once_and_overlap_policies(jobs) -> None:
    records, executions = jobs
    skip = _job(records, schedule=HOURLY)
    queue = _job(records, schedule=HOURLY, overlap="queue")
    assert skip["next_run_at"] is not None
    for job in (skip, queue):
        _make_due(records, job["id"], 3)
    fired = records.fire_due(grace=GRACE)
    # three slots each: the first dispatches, the others wait for it or are skipped
    assert sorted(r.state for r in _runs(records, skip["id"])) == [
        "dispatching",
        "skipped",
        "skipped",
    ]
    assert sorted(r.state for r in _runs(records, queue["id"])) == [
        "dispatching",
        "queued",
        "queued",
    ]
    assert len(fired) == 2
    assert records.fire_due(grace=GRACE) == []  # nothing new is due, nothing fires twice
    # the queued run goes once the first has its execution and it has ended
    first = next(r for r in _runs(records, queue["id"]) if r.state == "dispatching")
    execution_id, remote = new_execution(executions, "alice", job_run_id=first.id)
    records.end_dispatch(first.id, execution_id=execution_id, notebook_path="a.ipynb")
    assert records.fire_due(grace=GRACE) == []  # still running
    executions.apply_remote("alice", {"id": remote, "status": "success"}, "boot")
    promoted = records.fire_due(grace=GRACE)
    assert len(promoted) == 1
    assert records.get(queue["id"])["last_run"]["state"] in ("dispatching", "queued")
    slots = [r.slot for r in _runs(records, queue["id"])]
    assert len(slots) == len(set(slots)) == 3


def test_a_paused_job_fires_nothing_and_resumes_from_now(jobs) -> None:
    records, _ = jobs
    job = _job(records)
    paused = records.set_active(job["id"], "alice", False)
    assert paused["active"] is False and paused["next_run_at"] is None
    assert records.fire_due(grace=60) == []
    resumed = records.set_active(job["id"], "alice", True)
    assert resumed["next_run_at"] is not None
    assert datetime.datetime.fromisoformat(resumed["next_run_at"]) > datetime.datetime.now(UTC)
    with pytest.raises(Exception, match="No job"):
        records.set_active(job["id"], "bob", False)
    run = records.add_run(job["id"], "alice")
    assert run["state"] == JobRunState.DISPATCHING and run["slot"] is None
    assert records.dispatching() == [run["id"]]


def test_a_round_with_nothing_due_writes_nothing(jobs, monkeypatch) -> None:
    """The scheduler looks every second: when no slot is due and no run waits, it only
    reads (no row lock, no write transaction); when one is due, it writes."""
    records, _ = jobs
    job = _job(records, schedule=HOURLY)
    opened = []
    write_session = records.db.write_session
    monkeypatch.setattr(
        records.db, "write_session", lambda *a, **k: opened.append(1) or write_session(*a, **k)
    )
    assert records.fire_due(grace=GRACE) == []
    assert opened == []
    _make_due(records, job["id"], 1)
    opened.clear()
    assert len(records.fire_due(grace=GRACE)) == 1
    assert opened == [1]
