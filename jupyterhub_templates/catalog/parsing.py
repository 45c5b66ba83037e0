"""Reading an uploaded notebook: parsing, validation and parameter inference."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..jsontext import is_finite

if TYPE_CHECKING:
    from nbformat import NotebookNode

# nbformat (with jsonschema's format grammars) and papermill cost ~35 MB and 2 s of
# start-up; they are imported on the first upload, not when the service starts.

#: the parameter types the system understands; anything else is "any"
KNOWN_TYPES = ("int", "float", "bool", "str", "list", "dict")


@dataclass(frozen=True)
class NotebookInfo:
    """What the catalog records about a notebook's content."""

    notebook: NotebookNode
    kernel_name: str
    language: str
    parameters: list[dict[str, Any]]


def parse_notebook(data: bytes) -> NotebookInfo:
    """Parse and validate notebook bytes; infer its parameters.

    Raises InvalidInput when the bytes are not UTF-8 JSON or not a valid nbformat v4
    notebook (older versions are converted first).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput("The file is not UTF-8 text; a notebook is JSON.") from e
    import nbformat

    try:
        nb = nbformat.reads(text, as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError) as e:
        raise InvalidInput("The file is not a notebook: it is not valid JSON.") from e
    except Exception as e:  # nbformat raises assorted errors on unknown versions
        raise InvalidInput(f"The file is not a readable notebook: {_short(e)}") from e
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as e:
        raise InvalidInput(f"The notebook does not validate: {_short(e.message)}") from e
    # papermill's inference needs every cell to carry metadata.tags (as papermill's own
    # loader ensures); absent tags would raise.
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    kernelspec = nb.metadata.get("kernelspec", {})
    kernel_name = str(kernelspec.get("name", "") or "")
    language = str(
        nb.metadata.get("language_info", {}).get("name") or kernelspec.get("language") or ""
    )
    return NotebookInfo(
        notebook=nb,
        kernel_name=kernel_name,
        language=language,
        parameters=infer_parameters(nb, kernel_name, language),
    )


def infer_parameters(nb: NotebookNode, kernel_name: str, language: str) -> list[dict[str, Any]]:
    """The parameters of the cell tagged ``parameters``, as papermill infers them.

    Each is ``{"name", "type", "annotation", "default", "default_value", "help"}``:
    ``type`` is one of :data:`KNOWN_TYPES` or ``"any"``; ``default`` is the source text;
    ``default_value`` its JSON value when it is a literal JSON can hold, else None (an
    expression, or a literal holding a non-finite number such as ``1e999``, whose type
    still counts: ``threshold = 1e999`` is a ``float`` with ``default_value`` null).
    """
    from papermill.inspection import _infer_parameters

    try:
        found = _infer_parameters(nb, name=kernel_name or None, language=language or None)
    except Exception:
        # No translator for the language: the template simply has no inferred parameters.
        return []
    params = []
    for p in found:
        value, literal = _literal(p.default)
        default_value = value if is_finite(value) else None
        secret = is_secret(p.inferred_type_name, p.help)
        params.append(
            {
                "name": p.name,
                "type": "str" if secret else _normalize_type(p.inferred_type_name, value, literal),
                "annotation": "" if p.inferred_type_name == "None" else p.inferred_type_name,
                "default": p.default,
                "default_value": default_value,
                "help": p.help,
                "secret": secret,
            }
        )
    return params


#: a help comment marking its parameter secret: ``token = ""  # [secret] the API token``
SECRET_TAG = "[secret]"  # noqa: S105 (a tag, not a password)
#: annotations marking a parameter secret: ``token: Secret = ""`` (pydantic's name too)
SECRET_ANNOTATIONS = frozenset({"secret", "secretstr"})


def is_secret(annotation: str, help_text: str) -> bool:
    """Whether a parameter is secret: annotated :data:`SECRET_ANNOTATIONS` or tagged
    :data:`SECRET_TAG` in its help comment. A secret's value is given when the notebook
    runs and never written into a notebook (:mod:`.parameters`)."""
    base = (annotation or "").split("[", 1)[0].strip().strip("'\"").lower()
    return base in SECRET_ANNOTATIONS or SECRET_TAG in (help_text or "").lower()


def _literal(source: str) -> tuple[Any, bool]:
    try:
        value = ast.literal_eval(source)
        json.dumps(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None, False
    return value, True


def _unwrap_optional(annotation: str) -> str:
    """``annotation`` without an ``Optional[...]`` around it or ``| None`` beside it
    (``Optional[list[int]]`` and ``list[int] | None`` are lists that may be null)."""
    text = annotation.strip().strip("'\"")
    for prefix in ("typing.Optional[", "Optional["):
        if text.startswith(prefix) and text.endswith("]"):
            return text[len(prefix) : -1].strip()
    parts = [part.strip() for part in text.split("|")]
    kept = [part for part in parts if part != "None"]
    return kept[0] if len(parts) > 1 and len(kept) == 1 else text


def _normalize_type(annotation: str, value: Any, literal: bool) -> str:
    """The parameter's type (:data:`KNOWN_TYPES` or ``"any"``): from the annotation's
    base (``list`` of ``list[str]``, ``int`` of ``Optional[int]``), else from the
    default's literal value."""
    base = _unwrap_optional(annotation).split("[", 1)[0].strip().lower()
    aliases = {
        "integer": "int",
        "string": "str",
        "boolean": "bool",
        "dictionary": "dict",
        "tuple": "list",
        "sequence": "list",
        "mapping": "dict",
    }
    base = aliases.get(base, base)
    if base in KNOWN_TYPES:
        return base
    if literal and value is not None:
        for name, kind in (
            ("bool", bool),
            ("int", int),
            ("float", float),
            ("str", str),
            ("list", list),
            ("dict", dict),
        ):
            if isinstance(value, kind):
                return name
    return "any"


def _short(message: object, limit: int = 300) -> str:
    text = str(message).strip().splitlines()[0] if str(message).strip() else "unknown error"
    return text if len(text) <= limit else text[:limit] + "…"
