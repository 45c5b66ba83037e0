"""The example templates shipped with the package, one folder per category.

Each is a clean nbformat 4 notebook (no outputs, no execution counts) for the kernel
``mlflow_kernel`` whose first code cell is tagged ``parameters`` and holds one annotated
assignment per parameter with a ``# help`` comment (``name: type = default  # help``).
They run offline: their default data come from files shipped inside scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXAMPLES_DIR", "example_templates"]

#: the folder holding the example notebooks (inside the installed package)
EXAMPLES_DIR = Path(__file__).resolve().parent


def example_templates() -> dict[str, Path]:
    """Store keys (``"ml/automl_classification.ipynb"``, POSIX, relative to EXAMPLES_DIR)
    mapped to the notebook files, sorted by key. Checkpoint folders are left out."""
    found = {
        path.relative_to(EXAMPLES_DIR).as_posix(): path
        for path in EXAMPLES_DIR.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.parts
    }
    return dict(sorted(found.items()))
