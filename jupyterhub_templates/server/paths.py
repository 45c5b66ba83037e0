"""Keeping contents writes inside the server's root folder, symlinks included.

jupyter_server's file contents manager refuses API paths that leave its ``root_dir``
(``..``, absolute paths), but it compares paths without resolving symlinks: a link
inside the root that points out of it (``ln -s /etc outside``, or a notebook file linked
to one elsewhere) lets ``PUT /api/contents/outside/x.ipynb`` write outside the root. The
extension registers :func:`refuse_writes_outside_root` as a pre-save hook of the
contents manager (``TemplatesExtensionApp.confine_saves_to_root``), so every save of a
notebook, file or folder whose resolved location leaves the root is refused with a 403
before anything is written. Execution paths get the same check in
:func:`jupyterhub_templates.server.requests.resolve_in_root`.

A path that goes round a symbolic link loop (``ln -s loop loop``) makes jupyter_server's
contents handlers fail with an uncaught ``OSError`` (500) when they ask whether it is
hidden; :func:`answer_symlink_loops` turns that into a 400, so a client (the templates
service first of all) can tell bad input from a failing server.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

from tornado.web import HTTPError


def escape_reason(root_dir: str, api_path: str) -> str | None:
    """Why ``api_path`` (relative to ``root_dir``), every symlink on the way resolved,
    is not a place inside ``root_dir``; None when it is. Missing parts are fine (a file
    about to be created, or a dangling link's target, which is checked)."""
    root = os.path.realpath(root_dir)
    parts = [p for p in api_path.strip("/").split("/") if p]
    path = os.path.join(root, *parts)
    try:
        resolved = os.path.realpath(path, strict=True)
    except FileNotFoundError:
        # something on the way is missing: what exists up to it is resolved
        resolved = os.path.realpath(path)
    except (OSError, ValueError):
        return "cannot be resolved (a symbolic link loop or an unreadable folder)"
    if os.path.commonpath([root, resolved]) != root:
        return "resolves outside the server's root folder"
    return None


def refuse_writes_outside_root(
    model: dict[str, Any] | None, path: str, contents_manager: Any, **kwargs: Any
) -> None:
    """A contents-manager pre-save hook: 403 when ``path`` resolves outside the root
    (400 when it cannot be resolved), before anything is written.

    Contents managers without a ``root_dir`` on disk are left alone. Raises
    ``HTTPError`` (which jupyter_server lets through and answers as JSON), never
    another exception (which it would log and ignore, saving anyway).
    """
    root_dir = getattr(contents_manager, "root_dir", None)
    if not root_dir or not os.path.isdir(root_dir):
        return
    reason = escape_reason(root_dir, path)
    if reason is not None:
        status = 403 if "outside" in reason else 400
        # no path in the message: jupyter_server sends log_message unformatted, and the
        # caller knows which path it asked for
        raise HTTPError(status, f"this path {reason}; saving there is not allowed")


LOOP_MESSAGE = "this path goes round a symbolic link loop; refused"


def answer_symlink_loops(contents_manager: Any) -> None:
    """Make ``contents_manager.is_hidden`` (sync or async) raise a 400 ``HTTPError``
    instead of ``OSError(ELOOP)``; other errors pass unchanged. Idempotent."""
    original: Callable[..., Any] = contents_manager.is_hidden
    if getattr(original, "_answers_symlink_loops", False):
        return

    @functools.wraps(original)
    def is_hidden(path: str) -> Any:
        try:
            result = original(path)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise HTTPError(400, LOOP_MESSAGE) from None
        if not inspect.isawaitable(result):
            return result

        async def checked() -> Any:
            try:
                return await result
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                raise HTTPError(400, LOOP_MESSAGE) from None

        return checked()

    is_hidden._answers_symlink_loops = True  # type: ignore[attr-defined]
    contents_manager.is_hidden = is_hidden
