"""Unit tests of the path rules, durations and output names (no servers)."""

from __future__ import annotations

import pytest

from jupyterhub_templates.errors import InvalidInput
from jupyterhub_templates.execution.executions import default_output_path
from jupyterhub_templates.execution.records import format_duration
from jupyterhub_templates.notebooks.paths import (
    clean_notebook_name,
    clean_notebook_path,
    clean_path,
    join,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("notebooks", "notebooks"),
        ("notebooks/", "notebooks"),
        ("a//b", "a/b"),
        ("données/été", "données/été"),
        ("with space/x", "with space/x"),
    ],
)
def test_clean_paths(raw: str, expected: str) -> None:
    assert clean_path(raw, "p") == expected


@pytest.mark.parametrize(
    "raw",
    [
        "/etc",
        "~/x",
        "..",
        "a/../b",
        "a/./b",
        "a\\b",
        "a\x00b",
        "a\nb",
        "a\u202eb",  # right-to-left override (format character)
        "\uff0e\uff0e/x",  # fullwidth dots
        "a\uff0fb",  # fullwidth solidus
        "\u2025",  # two-dot leader, NFKC ".."
        ".hidden",
        " padded",
        "x" * 256,
        "a/" * 600,
        "",
    ],
)
def test_refused_paths(raw: str) -> None:
    with pytest.raises(InvalidInput):
        clean_path(raw, "p")


def test_root_and_non_strings() -> None:
    assert clean_path("", "p", allow_root=True) == ""
    assert clean_path(None, "p", allow_root=True) == ""
    with pytest.raises(InvalidInput):
        clean_path(42, "p")


def test_notebook_names_and_paths() -> None:
    assert clean_notebook_name("run") == "run.ipynb"
    assert clean_notebook_name("run.ipynb") == "run.ipynb"
    for bad in ("", "a/b", "../x", None, 3):
        with pytest.raises(InvalidInput):
            clean_notebook_name(bad)
    assert clean_notebook_path("a/b.ipynb") == "a/b.ipynb"
    with pytest.raises(InvalidInput):
        clean_notebook_path("a/b.txt")
    assert join("", "x.ipynb") == "x.ipynb"
    assert join("a/b", "x.ipynb") == "a/b/x.ipynb"


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0s"), (45.4, "45s"), (330, "5m 30s"), (3600, "1h 0m 0s"), (3723, "1h 2m 3s"), (-3, "0s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_default_output_path_is_beside_the_input() -> None:
    assert default_output_path("a/b/run.ipynb", 7) == "a/b/run-run-7.ipynb"
    assert default_output_path("run.ipynb", 12) == "run-run-12.ipynb"
