"""What a parameter's name may be: the one rule for the service and the server extension.

papermill writes each name unescaped into the injected cell (``f"{name} = {value}"``), so
a name must be a plain Python identifier, already NFKC-normal (Python normalises
identifiers: a fullwidth ``x`` would silently assign ``x``), not a keyword, and not a
name the interpreter gives a meaning (``__builtins__`` replaced by a string breaks every
later cell; ``__name__``, ``__file__`` and the like are no parameters either).

Dependency-free: users' servers import it without the service's libraries.
"""

from __future__ import annotations

import keyword
import unicodedata

#: the longest parameter name accepted
MAX_NAME_LENGTH = 255


def parameter_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a parameter's name, or None when it can."""
    if not isinstance(name, str):
        return "a parameter name must be a string"
    if len(name) > MAX_NAME_LENGTH:
        return f"longer than {MAX_NAME_LENGTH} characters"
    if not name.isidentifier():
        return "not a Python identifier"
    if keyword.iskeyword(name):
        return "a Python keyword"
    normal = unicodedata.normalize("NFKC", name)
    if normal != name:
        return f"not in NFKC normal form (Python would read it as {normal!r})"
    if name.startswith("__") and name.endswith("__"):
        return "a name Python reserves (__...__)"
    return None
