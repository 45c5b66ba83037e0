"""Notebooks made for the tests."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

DEFAULT_PARAMETERS = """dataset_path: str = "/data/train.csv"  # CSV file to train on
n_estimators: int = 100  # trees in the forest
learning_rate = 0.1  # step size
use_gpu: bool = False
models: list = ["xgboost", "rf"]  # model families to try
options = {"seed": 42}
"""


def make_notebook(
    parameters: str | None = DEFAULT_PARAMETERS,
    *,
    kernel: str = "python3",
    body: str = "print(dataset_path)",
    padding: int = 0,
) -> bytes:
    """A valid nbformat 4 notebook; its first code cell tagged ``parameters`` unless
    ``parameters`` is None. ``padding`` adds a markdown cell of that many bytes."""
    cells = [new_markdown_cell("# A template")]
    if parameters is not None:
        cells.append(new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    cells.append(new_code_cell(body))
    if padding:
        cells.append(new_markdown_cell("x" * padding))
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": kernel, "display_name": kernel, "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(nb)
    return nbformat.writes(nb).encode()


def notebook_json(data: bytes) -> dict:
    return json.loads(data)


def write_python_notebook(path: Path, *sources: str, params: str | None = "x = 1") -> Path:
    """A python3 notebook at ``path``: a markdown cell, an optional ``parameters`` cell,
    then one code cell per source."""
    cells = [new_markdown_cell("# test notebook")]
    if params is not None:
        cells.append(new_code_cell(params, metadata={"tags": ["parameters"]}))
    cells.extend(new_code_cell(s) for s in sources)
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
