"""Checking the parameters a user gives for a template, and injecting them with papermill.

Why this module exists: papermill turns parameters into code. Its Python translator
writes each *name* unescaped (``f"{name} = {value}"``), and renders values without
escaping unless they are strings: numbers through ``format()`` (an ``int`` subclass
whose ``__format__`` returns ``1; import os`` is written as that code), any other object
as ``"{str(value)}"`` with its quotes unescaped, NaN as the call ``float('nan')``. Only
strings are escaped (``unicode_escape``, then ``"`` → ``\\"``), which is safe in Python.
So every name and value is checked *before* it reaches papermill:

- names must be plain Python identifiers, not keywords, already NFKC-normalised (Python
  normalises identifiers, so a fullwidth ``x`` (U+FF58) would silently assign ``x``),
  not dunder names (``__builtins__``), and at most 255 characters long
  (:mod:`jupyterhub_templates.parameter_names`);
- values must be JSON values (None, bool, int, finite float, str, list, dict with str
  keys), nested at most :data:`MAX_DEPTH` deep; NaN and ±Infinity are refused (Python's
  ``json.loads`` accepts them, and reads ``1e999`` as infinity; papermill would render
  ``float('nan')``);
- the items of a parameter annotated ``list[str]``, ``dict[str, float]`` and the like
  must be of that type (:func:`item_type`);
- strings may hold any character papermill's Python rendering escapes (quotes,
  backslashes, newlines, control characters, any Unicode), except U+0000 and lone
  surrogates: PostgreSQL text/jsonb cannot store U+0000, and a lone surrogate cannot be
  encoded as UTF-8, so the notebook or the execution record could not be written.

:func:`check_parameters` validates and coerces what a client sent against the
parameters inferred from the template (see ``catalog.parsing.infer_parameters``);
:func:`inject_parameters` writes them into a copy of the notebook with papermill's own
``parameterize_notebook``, for Python kernels only (see its docstring for why).
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..parameter_names import MAX_NAME_LENGTH, parameter_name_problem

if TYPE_CHECKING:
    from nbformat import NotebookNode

# nbformat and papermill are imported where injection runs, not when the service starts
# (they cost ~35 MB of idle memory and 2 s of start-up, BENCHMARKS.md).

#: containers (lists and objects) may nest at most this deep
MAX_DEPTH = 32
#: how many bad parameters the error message lists (``details`` lists them all)
MAX_LISTED = 10

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOL_TEXT = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_OPTIONAL = re.compile(r"\b(?:None|Optional)\b")
_KNOWN_TYPES = ("int", "float", "bool", "str", "list", "dict")

#: why a number is refused that JSON (or float()) reads as NaN or ±Infinity, e.g. 1e999;
#: the Lab form says the same (``FORM_ERRORS.notFinite`` in ``src/form.ts``)
NOT_FINITE = "not a finite number (NaN, Infinity and numbers beyond ±1.8e308 are not allowed)"

#: the element types an annotation may name for its items (``list[str]``, ``dict[str,
#: float]``), checked by :func:`_check_items`
_ITEM_TYPES = ("int", "float", "bool", "str")
_LIST_ANNOTATION = re.compile(
    r"(?:typing\.)?(?:list|List|Sequence|Iterable|Collection)\[(\w+)\]|(?:typing\.)?(?:tuple|Tuple)\[(\w+),\.\.\.\]"
)
_DICT_ANNOTATION = re.compile(r"(?:typing\.)?(?:dict|Dict|Mapping|MutableMapping)\[str,(\w+)\]")
_OPTIONAL_ANNOTATION = re.compile(r"(?:typing\.)?Optional\[(.*)\]")

#: the reason an item of a ``list[T]`` / a value of a ``dict[str, T]`` is refused, by
#: container and item type; the Lab form's ``FORM_ERRORS`` has the same sentences
ITEMS_REFUSED = {
    ("list", "str"): 'expected a list of strings, e.g. ["a", "b"]',
    ("list", "int"): "expected a list of whole numbers, e.g. [1, 2]",
    ("list", "float"): "expected a list of numbers, e.g. [0.5, 1]",
    ("list", "bool"): "expected a list of true/false values, e.g. [true, false]",
    ("dict", "str"): 'expected an object whose values are strings, e.g. {"key": "a"}',
    ("dict", "int"): 'expected an object whose values are whole numbers, e.g. {"key": 1}',
    ("dict", "float"): 'expected an object whose values are numbers, e.g. {"key": 0.5}',
    ("dict", "bool"): 'expected an object whose values are true or false, e.g. {"key": true}',
}


def item_type(annotation: str | None) -> tuple[str, str] | None:
    """``(container, item type)`` that ``annotation`` asks of a value, or None when it asks
    nothing checkable: ``("list", T)`` for ``list[T]``, ``List[T]``, ``Sequence[T]``,
    ``tuple[T, ...]``; ``("dict", T)`` for ``dict[str, T]``, ``Dict[str, T]``,
    ``Mapping[str, T]``; T one of int, float, bool, str. ``Optional[...]`` and ``... |
    None`` around them count as the inner annotation (null is allowed as for any
    nullable parameter). Anything else (``list``, ``list[list[int]]``, ``dict[int,
    str]``) is None: only the container is checked."""
    text = re.sub(r"\s+", "", str(annotation or "")).strip("'\"")
    optional = _OPTIONAL_ANNOTATION.fullmatch(text)
    if optional:
        text = optional.group(1)
    parts = [part for part in text.split("|") if part != "None"]
    if len(parts) != 1:
        return None
    text = parts[0]
    found = _LIST_ANNOTATION.fullmatch(text)
    if found:
        kind = found.group(1) or found.group(2)
        return ("list", kind) if kind in _ITEM_TYPES else None
    found = _DICT_ANNOTATION.fullmatch(text)
    if found and found.group(1) in _ITEM_TYPES:
        return ("dict", found.group(1))
    return None


#: why a secret parameter's value is refused among the parameters
SECRET_GIVEN = "secret: give it in `secrets` when the notebook runs (never written into it)"  # noqa: S105
#: the most secrets a run takes, and their size in all (UTF-8 bytes)
MAX_SECRETS = 50
MAX_SECRETS_BYTES = 64 * 1024


def refuse_secrets(declared: list[dict], given: dict[str, Any]) -> None:
    """InvalidInput when ``given`` holds a value for a parameter ``declared`` secret:
    parameters are written into notebooks, a secret never is."""
    secret = {str(p.get("name")) for p in declared if p.get("secret")}
    _raise_if({_label(name): SECRET_GIVEN for name in given if name in secret})


def check_secrets(given: object) -> dict[str, str]:
    """A run's ``secrets``: an object of parameter names to strings (None: none). The
    values reach the kernel through the run's environment only; errors name the
    parameters, never a value."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise InvalidInput("secrets must be a JSON object of parameter names to strings.")
    if len(given) > MAX_SECRETS:
        raise InvalidInput(f"secrets: at most {MAX_SECRETS}.")
    problems: dict[str, str] = {}
    size = 0
    for name, value in given.items():
        reason = parameter_name_problem(name)
        if reason is None and (not isinstance(value, str) or "\x00" in value):
            reason = "a secret must be a string (without U+0000)"
        if reason is None:
            try:
                size += len(value.encode("utf-8"))
            except UnicodeEncodeError:
                reason = "a secret must be valid text"
        if reason is not None:
            problems[_label(name)] = reason
    _raise_if(problems)
    if size > MAX_SECRETS_BYTES:
        raise InvalidInput(f"secrets: at most {MAX_SECRETS_BYTES // 1024} KiB in all.")
    return dict(given)


class _Refused(Exception):
    """A value cannot be accepted; the message is the short reason."""


def check_parameters(
    declared: list[dict], given: object, *, allow_unknown: bool = False
) -> dict[str, Any]:
    """Check and coerce the parameters ``given`` for a template that declares ``declared``.

    ``declared`` is the template's inferred parameter list (``{"name", "type",
    "annotation", "default", ...}`` as ``infer_parameters`` returns). ``given`` is what
    the client sent: a JSON object (``None`` counts as ``{}``). Returns a new dict of the
    given parameters only (parameters not given keep the template's defaults), coerced to
    their declared types, declared ones first in declared order, then unknown ones (only
    with ``allow_unknown``) in given order. Values are plain JSON values.

    Coercion by declared type: ``int`` ← int (not bool), integral float, integer text;
    ``float`` ← int or float (not bool), finite numeric text; ``bool`` ← bool, text
    true/false/yes/no/1/0 (any case), int 0/1; ``str`` ← str, int or float (as
    ``str(value)``); ``list`` ← list or text holding a JSON array; ``dict`` ← object or
    text holding a JSON object, whose items must match an annotation such as
    ``list[str]`` or ``dict[str, float]`` (:func:`item_type`); ``any`` (and unknown
    parameters) ← any JSON value. ``null``
    is accepted for a typed parameter only when its default is ``None`` or its annotation
    mentions ``None``/``Optional``; an ``any`` parameter accepts it.

    Raises :class:`InvalidInput` when ``given`` is not an object, or once listing every
    bad parameter: message ``"2 parameters are invalid: a: reason; b: reason"`` and
    ``details={"parameters": {name: reason, ...}}``.
    """
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise InvalidInput(
            f"Parameters must be a JSON object of names to values, got {_show(given)}."
        )
    types: dict[str, dict] = {}
    for param in declared:
        types.setdefault(str(param.get("name")), param)

    problems: dict[str, str] = {}
    accepted: dict[str, Any] = {}
    for name, value in given.items():
        label = _label(name)
        reason = parameter_name_problem(name)
        if reason is None and name not in types and not allow_unknown:
            reason = "not a parameter of this template"
        if reason is None and name in types and types[name].get("secret"):
            reason = SECRET_GIVEN
        if reason is None:
            try:
                value = _json_value(value)
                if name in types:
                    value = _coerce(types[name], value)
            except _Refused as e:
                reason = str(e)
        if reason is not None:
            problems[label] = reason
        else:
            accepted[name] = value
    _raise_if(problems)
    ordered = {name: accepted[name] for name in types if name in accepted}
    ordered.update((name, value) for name, value in accepted.items() if name not in types)
    return ordered


def inject_parameters(
    nb: NotebookNode,
    parameters: dict[str, Any],
    *,
    kernel_name: str | None,
    language: str | None,
) -> NotebookNode:
    """A new notebook: ``nb`` with ``parameters`` injected by papermill; ``nb`` is untouched.

    The copy is shallow where injection changes nothing: it has its own top-level
    dict, ``metadata`` (and ``metadata.papermill``), list of cells, and per cell its own
    dict, ``metadata`` and ``tags`` list, but shares the rest (sources, outputs,
    attachments, nested metadata such as ``kernelspec``) with ``nb``. Treat both as
    read-only below that level, or deep-copy first. (A deep copy of a 1 MB notebook
    costs several times papermill's own work; creation only serializes the result.)

    Every cell of the copy gets ``metadata.tags`` (papermill needs it). Then, as
    papermill's ``parameterize_notebook`` does, a code cell tagged
    ``injected-parameters`` holding one assignment per parameter goes right after the
    first cell tagged ``parameters``, replaces an existing ``injected-parameters`` cell,
    or goes first when the notebook has neither; ``metadata.papermill.parameters`` records
    the values.

    Empty ``parameters``: as papermill's ``execute_notebook`` does (it only parameterizes
    when parameters are given), nothing is injected and the copy is returned as is (an
    ``injected-parameters`` cell already in the notebook stays), whatever the language.

    ``kernel_name`` and ``language`` override the notebook's kernelspec / language_info,
    as in papermill. Only kernels papermill renders with its Python translator are
    accepted: other translators render strings that their languages may still interpret
    (Julia and PowerShell expand ``$(...)`` inside double-quoted strings), so they would
    let a parameter value run code. Raises :class:`InvalidInput` for another or an unknown
    language, a notebook without kernel name or language, or names and values that
    :func:`check_parameters` would refuse (same ``details`` format).
    """
    out = _light_copy(nb)
    if not parameters:
        return out

    problems: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, value in parameters.items():
        reason = parameter_name_problem(name)
        if reason is None:
            try:
                values[name] = _json_value(value)
            except _Refused as e:
                reason = str(e)
        if reason is not None:
            problems[_label(name)] = reason
    _raise_if(problems)

    kernel_name = kernel_name or str(out.metadata.get("kernelspec", {}).get("name") or "")
    language = language or str(
        out.metadata.get("language_info", {}).get("name")
        or out.metadata.get("kernelspec", {}).get("language")
        or ""
    )
    if not kernel_name or not language:
        raise InvalidInput(
            "Cannot inject parameters: the notebook names no kernel or no language "
            "(metadata.kernelspec / metadata.language_info) and none was given."
        )
    import nbformat
    from papermill.exceptions import PapermillException
    from papermill.parameterize import parameterize_notebook
    from papermill.translators import PythonTranslator, papermill_translators

    try:
        translator = papermill_translators.find_translator(kernel_name, language)
    except PapermillException as e:
        raise InvalidInput(
            f"Cannot inject parameters: papermill has no parameter support for kernel "
            f"{kernel_name!r} or language {language!r}."
        ) from e
    if not issubclass(translator, PythonTranslator):
        raise InvalidInput(
            f"Cannot inject parameters for kernel {kernel_name!r} (language {language!r}): "
            "only Python notebooks can be parameterized safely."
        )
    out.metadata.setdefault("papermill", nbformat.NotebookNode())
    return parameterize_notebook(out, values, kernel_name=kernel_name, language=language)


def _light_copy(nb: NotebookNode) -> NotebookNode:
    """A copy of every container that injection writes to (papermill's
    ``parameterize_notebook`` replaces ``cells``, sets ``metadata.papermill.parameters``
    and, upgrading a notebook older than nbformat 4.5, ``nbformat_minor``,
    ``metadata.orig_nbformat_minor`` and each cell's ``id``), with a ``tags`` list on
    every cell; everything below is shared with ``nb``."""
    from nbformat import NotebookNode

    # dict.__setitem__: NotebookNode's own converts mappings and checks each value
    # against the Mapping ABC, which costs more than the copy itself on 1,000s of cells
    put = dict.__setitem__
    out = NotebookNode(nb)
    metadata = NotebookNode(nb.get("metadata") or {})
    if isinstance(metadata.get("papermill"), dict):
        put(metadata, "papermill", NotebookNode(metadata["papermill"]))
    put(out, "metadata", metadata)
    cells = []
    for cell in nb.get("cells", []):
        new = NotebookNode(cell)
        cell_metadata = NotebookNode(cell.get("metadata") or {})
        tags = cell_metadata.get("tags")
        put(cell_metadata, "tags", list(tags) if isinstance(tags, list) else [])
        put(new, "metadata", cell_metadata)
        cells.append(new)
    put(out, "cells", cells)
    return out


# -- names ---------------------------------------------------------------------------


def _label(name: object) -> str:
    """How a parameter name appears in the message and as a ``details`` key."""
    if not isinstance(name, str):
        return repr(name)[:64]
    if len(name) > MAX_NAME_LENGTH:
        return name[:64] + "…"
    return name


def _raise_if(problems: dict[str, str]) -> None:
    if not problems:
        return
    count = len(problems)
    listed = "; ".join(
        f"{_printable(name)}: {reason}" for name, reason in list(problems.items())[:MAX_LISTED]
    )
    if count > MAX_LISTED:
        listed += f"; and {count - MAX_LISTED} more"
    verb = "parameter is" if count == 1 else "parameters are"
    raise InvalidInput(
        f"{count} {verb} invalid: {listed}", details={"parameters": problems}, field="parameters"
    )


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)


# -- values --------------------------------------------------------------------------


def _json_value(value: Any, depth: int = 0, path: str = "") -> Any:
    """A plain copy of ``value`` when it is a JSON value; raises _Refused otherwise."""
    where = f" (at {path})" if path else ""
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise _Refused(f"{NOT_FINITE}{where}")
        return value
    if kind is str:
        _check_text(value, where)
        return value
    if isinstance(value, (list, dict)):
        if depth >= MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, list):
            return [_json_value(v, depth + 1, f"{path}[{i}]") for i, v in enumerate(value)]
        result = {}
        for key, v in value.items():
            if type(key) is not str:
                raise _Refused(f"object keys must be strings{where}")
            _check_text(key, where)
            result[key] = _json_value(v, depth + 1, f"{path}[{json.dumps(key)[:40]}]")
        return result
    raise _Refused(f"not a JSON value ({kind.__name__}){where}")


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise _Refused(f"contains a NUL character (U+0000){where}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused(f"contains a lone surrogate, not valid Unicode{where}") from None


def _coerce(param: dict, value: Any) -> Any:
    kind = param.get("type")
    kind = kind if kind in _KNOWN_TYPES else "any"
    if value is None:
        if kind == "any" or _nullable(param):
            return None
        raise _Refused("null is not allowed: the template's default is not None")
    if kind == "any":
        return value
    value = _COERCE[kind](value)
    if kind in ("list", "dict"):
        wanted = item_type(param.get("annotation"))
        if wanted is not None and wanted[0] == kind:
            value = _check_items(value, *wanted)
    return value


def _check_items(value: list | dict, container: str, kind: str) -> list | dict:
    """``value`` (a JSON list or object) with each item or value of type ``kind``
    (integral floats become ints for ``int``; ints stay ints for ``float``: Python
    takes both); raises _Refused naming the first item that is not."""
    entries = enumerate(value) if isinstance(value, list) else value.items()
    checked = {}
    for key, item in entries:
        ok = (
            (kind == "str" and type(item) is str)
            or (kind == "bool" and type(item) is bool)
            or (kind == "int" and type(item) is int)
            or (kind == "int" and type(item) is float and item.is_integer())
            or (kind == "float" and type(item) in (int, float))
        )
        if not ok:
            at = f"[{key}]" if isinstance(value, list) else f"[{json.dumps(key)[:40]}]"
            refused = ITEMS_REFUSED[(container, kind)]
            raise _Refused(f"{refused}; item {at} is {_show(item)}")
        checked[key] = int(item) if kind == "int" else item
    return list(checked.values()) if isinstance(value, list) else checked


def _nullable(param: dict) -> bool:
    default = str(param.get("default") or "").strip()
    return default == "None" or bool(_OPTIONAL.search(str(param.get("annotation") or "")))


def _to_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is str and _INT_TEXT.fullmatch(value.strip()):
        try:
            return int(value.strip())
        except ValueError:  # more digits than Python converts
            raise _Refused("integer too large") from None
    raise _Refused(f"expected an integer, got {_show(value)}")


def _to_float(value: Any) -> float:
    if type(value) in (int, float):
        try:
            return float(value)
        except OverflowError:
            raise _Refused(NOT_FINITE) from None
    if type(value) is str and _FLOAT_TEXT.fullmatch(value.strip()):
        number = float(value.strip())
        if math.isfinite(number):
            return number
        raise _Refused(NOT_FINITE)
    raise _Refused(f"expected a number, got {_show(value)}")


def _to_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str and value.strip().lower() in _BOOL_TEXT:
        return _BOOL_TEXT[value.strip().lower()]
    raise _Refused(f"expected a boolean (true or false), got {_show(value)}")


def _to_str(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) in (int, float):
        try:
            return str(value)
        except ValueError:  # more digits than Python converts
            raise _Refused("integer too large") from None
    raise _Refused(f"expected a string, got {_show(value)}")


def _to_list(value: Any) -> list:
    value = _from_text(value)
    if type(value) is list:
        return value
    raise _Refused(f"expected a list, got {_show(value)}")


def _to_dict(value: Any) -> dict:
    value = _from_text(value)
    if type(value) is dict:
        return value
    raise _Refused(f"expected an object, got {_show(value)}")


def _from_text(value: Any) -> Any:
    """A string holding a JSON array or object (as a form field sends) parsed; else as is."""
    if type(value) is not str or value.strip()[:1] not in ("[", "{"):
        return value
    try:
        parsed = json.loads(value, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise _Refused(f"not valid JSON: {_show(value)}") from None
    return _json_value(parsed)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


_COERCE = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "str": _to_str,
    "list": _to_list,
    "dict": _to_dict,
}


def _show(value: Any) -> str:
    """A short description of a refused value for messages."""
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is str:
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "…"
    if type(value) is int:
        return repr(value) if value.bit_length() <= 64 else "a very large integer"
    if type(value) is float:
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"
