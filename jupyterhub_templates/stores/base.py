"""The interface every template store implements.

A store keeps notebook bytes under keys such as ``ml/automl_template.ipynb``. It knows
nothing of versions, parameters or users: the catalog decides which keys to use.

Every method blocks (file or network I/O). Callers on the Tornado event loop must run
them in a worker thread; the catalog does.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from traitlets.config import LoggingConfigurable

from .. import metrics
from ..errors import NotFound, Unavailable

#: what a reader is told when the catalog knows a template the store lacks
MISSING_CONTENT = (
    "The template's content is missing from the store; an admin should run "
    "'jupyterhub-templates sync'."
)


class StoreError(Exception):
    """Base class for store failures."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, or refused an operation for a reason other than a
    missing object (network down, bad credentials, full disk). Maps to HTTP 503."""


class ObjectNotFound(StoreError, KeyError):
    """No object is stored under the key."""


@contextlib.contextmanager
def store_errors(*, missing: str | None = None) -> Iterator[None]:
    """The one mapping of store failures to the service's errors: StoreUnavailable
    becomes :class:`Unavailable` (503); ObjectNotFound becomes :class:`NotFound` with
    the message ``missing`` when one is given, and goes on as it is otherwise."""
    try:
        yield
    except ObjectNotFound as e:
        if missing is None:
            raise
        raise NotFound(missing) from e
    except StoreUnavailable as e:
        raise Unavailable(f"The template store is unavailable: {e}") from e


def _metered(operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def metered(self: TemplateStore, *args: Any, **kwargs: Any) -> Any:
        with metrics.store_call(operation, StoreUnavailable):
            return method(self, *args, **kwargs)

    return metered


def _metered_listing(method: Callable[..., Iterator[StoredObject]]) -> Callable[..., Any]:
    @functools.wraps(method)
    def metered(self: TemplateStore, *args: Any, **kwargs: Any) -> Iterator[StoredObject]:
        # the call itself (a store that fails at once still does), then the reading of
        # the listing to its end, are timed as one
        timing = metrics.store_call("list", StoreUnavailable)
        try:
            items = iter(method(self, *args, **kwargs))
        except BaseException as e:
            timing.done(e)
            raise
        return _read_listing(items, timing)

    return metered


def _read_listing(items: Iterator[StoredObject], timing: metrics.Timed) -> Iterator[StoredObject]:
    try:
        yield from items
    except BaseException as e:
        timing.done(e)
        raise
    timing.done()


@dataclass(frozen=True)
class StoredObject:
    """One object as listed by :meth:`TemplateStore.list`."""

    key: str
    size: int
    last_modified: datetime.datetime


class TemplateStore(LoggingConfigurable):
    """Keeps template notebooks under string keys.

    Keys are ``/``-separated relative paths that the catalog has already validated
    (no ``..``, no leading ``/``, no backslash, no control character).
    """

    #: short name used in configuration and in /health
    kind = "abstract"

    #: the methods every store has timed and its failures counted (:mod:`...metrics`)
    METERED = ("put", "get", "delete", "exists", "check", "presigned_url")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Meter the store methods a subclass defines, so that every store (built-in or
        a third party's) is measured the same way without doing anything for it."""
        super().__init_subclass__(**kwargs)
        for name in cls.METERED:
            if name in cls.__dict__:
                setattr(cls, name, _metered(name, cls.__dict__[name]))
        if "list" in cls.__dict__:
            cls.list = _metered_listing(cls.__dict__["list"])  # type: ignore[method-assign]

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any object there. Atomic: a reader sees
        the old bytes or the new ones, never a part."""
        raise NotImplementedError

    def get(self, key: str) -> bytes:
        """Return the bytes under ``key``; raise :class:`ObjectNotFound` if there are none."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove the object under ``key``. Removing a missing object is not an error."""
        raise NotImplementedError

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix``, recursively, in no set order."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise :class:`StoreUnavailable` unless the store answers. Used by /health."""
        raise NotImplementedError

    def presigned_url(self, key: str, expires: datetime.timedelta) -> str | None:
        """A URL that lets anyone holding it GET the object until ``expires`` from now,
        or None when the store cannot sign URLs (the service then signs its own)."""
        return None

    def describe(self) -> str:
        """A one-line description for logs. Never includes credentials."""
        return self.kind
