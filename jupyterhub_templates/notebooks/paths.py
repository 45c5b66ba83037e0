"""Paths in a user's server, as the API accepts them.

Every path is a Jupyter API path relative to the server's root: ``/``-separated, no
leading ``/``, no ``.``/``..`` segments, no backslashes, control or format characters,
no hidden segments, and no segment that Unicode normalisation (NFKC) would turn into
one of those (fullwidth dots or slashes). The server's contents manager checks again; this is
the first gate, and it gives clear 400s.
"""

from __future__ import annotations

import unicodedata

from ..errors import InvalidInput

MAX_PATH = 1024
MAX_SEGMENT = 255


def _bad_segment(segment: str) -> str | None:
    if len(segment) > MAX_SEGMENT:
        return f"a name is longer than {MAX_SEGMENT} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in segment):
        return "control characters are not allowed"
    folded = unicodedata.normalize("NFKC", segment)
    if "\\" in segment or "\\" in folded or "/" in folded:
        return "backslashes and look-alike slashes are not allowed"
    if folded.strip() in (".", ".."):
        return "'.' and '..' are not allowed"
    if segment.startswith(".") or folded.startswith("."):
        return "hidden files and folders (names starting with '.') are not allowed"
    if segment != segment.strip():
        return "names may not start or end with spaces"
    return None


def clean_path(value: object, what: str, *, allow_root: bool = False) -> str:
    """``value`` as a clean relative API path (no trailing ``/``), or InvalidInput.

    ``allow_root``: the empty path (the server's root folder) is accepted. Errors name
    ``what`` (the request's member) as their ``field``.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string.", field=what)
    if len(value) > MAX_PATH:
        raise InvalidInput(f"{what} is longer than {MAX_PATH} characters.", field=what)
    if value.startswith(("/", "~")):
        raise InvalidInput(
            f"{what} must be relative to your server's root folder (e.g. 'notebooks/run'), "
            f"not {value[:1]!r}-rooted.",
            field=what,
        )
    segments = [s for s in value.split("/") if s != ""]
    if not segments:
        if allow_root:
            return ""
        raise InvalidInput(f"{what} is empty.", field=what)
    for segment in segments:
        problem = _bad_segment(segment)
        if problem:
            raise InvalidInput(f"{what} is refused: {problem}.", field=what)
    return "/".join(segments)


def clean_notebook_name(value: object, what: str = "new_name") -> str:
    """A notebook file name (no folder); ``.ipynb`` is added when missing."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty file name.", field=what)
    if "/" in value:
        raise InvalidInput(
            f"{what} must be a file name without folders; use target_directory.", field=what
        )
    name = clean_path(value, what)
    if not name.endswith(".ipynb"):
        name += ".ipynb"
    return name


def clean_notebook_path(value: object, what: str = "notebook_path") -> str:
    """A path to a notebook: a clean path ending in ``.ipynb``."""
    path = clean_path(value, what)
    if not path.endswith(".ipynb"):
        raise InvalidInput(f"{what} must name a notebook (.ipynb).", field=what)
    return path


def join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name
