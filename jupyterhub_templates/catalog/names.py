"""Validation of template names and categories.

A template is named ``<category>/<filename>``, which is also its object key in the store.
Everything a user sends is checked here before it reaches a store or a path.
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import InvalidInput

CATEGORY_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_FILENAME = 255
#: allowed in a file name besides letters and digits (any script)
FILENAME_PUNCTUATION = frozenset(" ._-()+,@")
#: where earlier versions are kept in the store; starts with a character that no
#: category may contain, so it never clashes with a template
VERSIONS_PREFIX = ".versions/"


def check_category(category: str) -> str:
    """Return ``category`` if it is one path segment of letters, digits, ``-``, ``_``."""
    if not isinstance(category, str) or not CATEGORY_RE.fullmatch(category):
        raise InvalidInput(
            "Invalid category: use 1 to 64 letters, digits, '-' or '_' (one path segment)."
        )
    return category


def check_filename(filename: str) -> str:
    """Return ``filename`` if it is a safe notebook file name, else raise InvalidInput.

    Refused: not ending in ``.ipynb``; ``..``; ``/`` or ``\\``; control or format
    characters; characters that Unicode folds into others (look-alikes such as a
    fullwidth solidus); a leading dot or space; over 255 characters.
    """
    if not isinstance(filename, str) or not filename:
        raise InvalidInput("A template file name is required.")
    if len(filename) > MAX_FILENAME:
        raise InvalidInput(f"Invalid file name: longer than {MAX_FILENAME} characters.")
    if "/" in filename or "\\" in filename:
        raise InvalidInput("Invalid file name: it may not contain '/' or '\\'.")
    if ".." in filename:
        raise InvalidInput("Invalid file name: it may not contain '..'.")
    for ch in filename:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise InvalidInput("Invalid file name: it contains control characters.")
    if unicodedata.normalize("NFKC", filename) != filename:
        raise InvalidInput(
            "Invalid file name: it contains look-alike characters; use plain characters."
        )
    for ch in filename:
        if not (ch.isalnum() or ch in FILENAME_PUNCTUATION):
            raise InvalidInput(f"Invalid file name: character {ch!r} is not allowed.")
    if filename[0] in ". " or filename[-1] == " ":
        raise InvalidInput("Invalid file name: it may not start with '.' or a space.")
    if not filename.endswith(".ipynb") or filename == ".ipynb":
        raise InvalidInput("Invalid file name: a template must be a '.ipynb' notebook.")
    return filename


def split_name(name: str) -> tuple[str, str]:
    """Check a full template name ``<category>/<filename>`` and return its two parts."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("A template name is required, e.g. 'ml/automl_template.ipynb'.")
    if name.startswith("/"):
        raise InvalidInput("Invalid template name: it may not start with '/'.")
    if "\\" in name:
        raise InvalidInput("Invalid template name: it may not contain '\\'.")
    category, sep, filename = name.partition("/")
    if not sep:
        raise InvalidInput(
            "Invalid template name: expected '<category>/<file>.ipynb', "
            "e.g. 'ml/automl_template.ipynb'."
        )
    return check_category(category), check_filename(filename)


def version_key(name: str, version: int) -> str:
    """The store key holding version ``version`` of template ``name``."""
    return f"{VERSIONS_PREFIX}{name}/{version}.ipynb"
