"""The benchmark suite (benchmarks/, ``make bench``) run once at tiny sizes, so that it
keeps working. Only the shape of its table is checked: every row has a figure and a
baseline. Timings are never asserted here (shared, noisy machines)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.s3]


def test_benchmark_suite_runs_at_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "tiny", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.startswith("| benchmark |"), proc.stdout[:500]
    rows = json.loads(out.read_text())
    benchmarks = {r["benchmark"].split(":")[0] for r in rows}
    assert benchmarks == {"catalog", "load", "create", "execution"}, benchmarks
    # 3 queries x 2 paths, 5 load metrics, 3 through haproxy (2 replicas vs 1), create
    # (new path, overwrite), and execution
    # (latency and first-cell answer cold, spare runners, spares+kernels; memory x 2;
    # throughput x 2)
    assert len(rows) == 26, [r["benchmark"] for r in rows]
    for row in rows:
        for key in ("ours_p50", "baseline_p50"):
            value = row[key]
            assert isinstance(value, int | float) and math.isfinite(value), (key, row)
        assert row["met"] in (True, False), row
    # every row is in the printed table
    lines = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + len(rows), proc.stdout  # the header and one line per row
