"""Execution records on SQLite: an ended run says whether its MLflow lookup is still
pending, from the same write that ends it until the lookup is done, whatever its end."""

from __future__ import annotations

import pytest
from records import new_execution

from jupyterhub_templates.db import Database
from jupyterhub_templates.execution.records import ExecutionRecords


@pytest.fixture
def records(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'records.sqlite'}")
    db.upgrade()
    yield ExecutionRecords(db)
    db.dispose()


@pytest.mark.parametrize("lookup", [True, False])
def test_pending_from_the_end_until_the_lookup_is_done(records: ExecutionRecords, lookup) -> None:
    records.lookup_mlflow = lookup
    reported, remote = new_execution(records, "alice", experiment_name="a")
    forced, _ = new_execution(records, "alice", experiment_name="a")
    assert records.get(reported)["mlflow"]["pending"] is False  # not ended yet
    _, described, became_final = records.apply_remote(
        "alice", {"id": remote, "status": "success"}, "boot"
    )
    assert became_final and described["mlflow"]["pending"] is lookup
    described = records.finish(forced, "failed", "server stopped", "gone")
    assert described["mlflow"]["pending"] is lookup
    assert sorted(i for i, _ in records.pending_lookups()) == ([reported, forced] if lookup else [])

    runs = [{"run_id": "r1", "metrics": {}}]
    records.set_runs(reported, runs)  # found
    records.set_runs(forced, None)  # none found, or MLflow away: done all the same
    assert records.get(reported)["mlflow"] == {
        "experiment_name": "a",
        "runs": runs,
        "pending": False,
    }
    assert records.get(forced)["mlflow"] == {"experiment_name": "a", "runs": [], "pending": False}
    assert records.pending_lookups() == []


def test_a_kept_log_tail_reads_like_the_live_log(records: ExecutionRecords) -> None:
    from jupyterhub_templates.logtail import read_from, tail_of

    def read_tail(text: str, start: int, offset: int) -> dict:
        return read_from(text.encode(), start, offset)

    log = "start\n" + "é" * 20 + "\nend\n"  # two-byte characters around the cut
    end = 1000 + len(log.encode())
    tail, start = tail_of(log, end, 15)
    assert tail.endswith("\nend\n") and "\ufffd" not in tail
    assert start + len(tail.encode()) == end and len(tail.encode()) <= 15
    execution_id, _ = new_execution(records, "alice")
    assert records.stored_log(execution_id) is None
    records.set_log_tail(execution_id, tail, start)
    assert records.stored_log(execution_id) == (tail, start)
    whole = read_tail(tail, start, 0)
    assert whole == {"offset": start, "next_offset": end, "log": tail, "truncated": True}
    assert read_tail(tail, start, end - 4) == {
        "offset": end - 4,
        "next_offset": end,
        "log": "end\n",
        "truncated": False,
    }
    assert read_tail(tail, start, end + 50)["log"] == ""
    # nothing to cut: the whole log, from its start
    assert tail_of("short", 5, 100) == ("short", 0)


def test_reading_on_from_next_offset_never_splits_a_character() -> None:
    """A live log's window may end inside a character (its bytes arrive in pieces): the
    read stops before it, and reading on from ``next_offset`` gets it whole."""
    from jupyterhub_templates.logtail import read_from

    data = "aé".encode()  # b"a\xc3\xa9"
    first = read_from(data[:2], 100, 100)
    assert first == {"offset": 100, "next_offset": 101, "log": "a", "truncated": False}
    second = read_from(data, 100, first["next_offset"])
    assert second["log"] == "é" and second["next_offset"] == 103
