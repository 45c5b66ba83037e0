"""The base handler: Hub authentication without blocking, JSON errors, worker threads."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from jupyterhub.services.auth import HubOAuth, HubOAuthenticated, UserNotAllowed
from tornado import web

from ...errors import InvalidInput, NotAllowed, TemplatesError

T = TypeVar("T")

ADMIN_SCOPE_SETTING = "templates_admin_scope"

#: the largest integer the database stores (64-bit signed); larger ones are bad input
MAX_SQL_INT = 2**63 - 1


#: a JSON escape of a UTF-16 surrogate; only bodies that have one are checked further
LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _is_text(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _lone_surrogate_at(value: Any, where: str = "the body", depth: int = 0) -> str | None:
    """Where in ``value`` (parsed JSON) a string that is not valid Unicode is, as a
    dotted path of keys and indexes (``parameters.s0``), or None when there is none."""
    if _is_text(value):
        return None
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and depth < 4:
        items = enumerate(value)
    for key, item in items:
        if not _is_text(key):
            return f"a key of {where}"
        here = f"{key}" if depth == 0 else f"{where}.{key}"
        if depth >= 4:
            return here if not _is_text(item) else None
        found = _lone_surrogate_at(item, here, depth + 1)
        if found is not None:
            return found
    return where


def parse_id(raw: str, what: str) -> int:
    """A record id from a URL; 400 unless an integer the database can hold."""
    try:
        # int() also reads other scripts' digits (fullwidth, Arabic-Indic): one spelling
        value = int(raw) if raw.isascii() else None
    except ValueError:
        value = None
    if value is None:
        raise InvalidInput(f"The {what} id must be an integer.")
    if abs(value) > MAX_SQL_INT:
        raise InvalidInput(f"The {what} id is out of range.")
    return value


class ServiceHubAuth:
    """Handlers use the service's one HubOAuth (from the app settings), never a new
    singleton: it holds the OAuth state, PKCE verifiers and the user cache."""

    settings: dict[str, Any]

    @property
    def hub_auth(self) -> HubOAuth:
        return self.settings["hub_auth"]

    @hub_auth.setter
    def hub_auth(self, value: HubOAuth) -> None:  # required by the mixin's interface
        self.settings["hub_auth"] = value


class BaseHandler(ServiceHubAuth, HubOAuthenticated, web.RequestHandler):
    """Common ground for every route.

    The Hub user is resolved in :meth:`prepare` with an async call (HubAuth's
    synchronous path would block the event loop while asking the Hub). Errors are
    JSON ``{"status": "error", "message": ...}``.
    """

    #: whether the route needs an authenticated Hub user
    auth_required = True

    @property
    def catalog(self) -> Any:
        return self.settings["catalog"]

    @property
    def service(self) -> Any:
        return self.settings["service"]

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def compute_etag(self) -> str | None:
        """No automatic ETag: answers are ``no-store``, so no client revalidates them,
        and hashing every body cost 4 % of the event loop under load (issue 5). A
        handler that wants one (the download) sets the header itself."""
        return None

    async def prepare(self) -> None:
        user: dict[str, Any] | None = None
        self._not_allowed: dict[str, Any] | None = None
        try:
            model = await self.hub_auth.get_user(self, sync=False)
        except web.HTTPError:
            # The Hub did not answer as expected; do not leak its reply.
            raise web.HTTPError(503, "The JupyterHub API is unavailable.") from None
        if model:
            try:
                user = self.check_hub_user(model)
            except UserNotAllowed:
                self._not_allowed = model
        self._hub_auth_user_cache = user
        if self.auth_required and user is None:
            self.refuse_anonymous()

    def refuse_anonymous(self) -> None:
        """API routes answer 403 JSON instead of redirecting to the login page."""
        if self._not_allowed is not None:
            raise web.HTTPError(
                403,
                f"{self._not_allowed['kind']} {self._not_allowed['name']} "
                "may not use the templates service.",
            )
        raise web.HTTPError(
            403,
            "Not authenticated: send 'Authorization: token <JupyterHub API token>' "
            "or log in through JupyterHub.",
        )

    def get_current_user(self) -> dict[str, Any] | None:
        return getattr(self, "_hub_auth_user_cache", None)

    @property
    def username(self) -> str:
        return self.current_user["name"] if self.current_user else ""

    @property
    def is_templates_admin(self) -> bool:
        """Whether the caller holds the admin scope (custom:templates:admin)."""
        user = self.current_user
        if not user:
            return False
        return self.settings[ADMIN_SCOPE_SETTING] in set(user.get("scopes", []))

    def require_admin(self, action: str) -> None:
        if not self.is_templates_admin:
            raise NotAllowed(
                f"Only holders of the {self.settings[ADMIN_SCOPE_SETTING]} scope may {action}."
            )

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking ``fn`` in the service's worker pool."""
        return await self.service.run_blocking(fn, *args, **kwargs)

    def acting_for(self, username: object) -> str:
        """The user a request acts for: the caller, or (admins only) the named user."""
        if username is None or username == "":
            return self.username
        if not isinstance(username, str):
            raise InvalidInput("username must be a string.")
        if username != self.username:
            self.require_admin("act for another user")
        return username

    @property
    def owner_filter(self) -> str | None:
        """Whose records the caller may see: None (everyone's) for admins."""
        return None if self.is_templates_admin else self.username

    # -- input helpers --------------------------------------------------------

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object; 400 otherwise."""
        raw = self.request.body or b"{}"
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidInput("The request body is not valid JSON.") from e
        except RecursionError:
            raise InvalidInput("The request body is nested too deeply.") from None
        if not isinstance(body, dict):
            raise InvalidInput("The request body must be a JSON object.")
        where = _lone_surrogate_at(body) if LONE_SURROGATE_ESCAPE.search(raw) else None
        if where is not None:
            # "\ud800" alone is valid JSON but no Unicode text: nothing can store it
            raise InvalidInput(
                f"{where} holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text."
            )
        return body

    def int_argument(self, name: str, default: int | None, *, minimum: int | None = None) -> Any:
        raw = self.get_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidInput(f"{name} must be an integer.") from None
        if minimum is not None and value < minimum:
            raise InvalidInput(f"{name} must be at least {minimum}.")
        if abs(value) > MAX_SQL_INT:
            raise InvalidInput(f"{name} is out of range.")
        return value

    @staticmethod
    def body_bool(body: dict[str, Any], name: str, default: bool = False) -> bool:
        value = body.get(name, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false.")
        return value

    @staticmethod
    def body_str(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
        value = body.get(name)
        if value is None:
            if required:
                raise InvalidInput(f"{name} is required.")
            return None
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string.")
        if required and not value.strip():
            raise InvalidInput(f"{name} is required.")
        return value

    def bool_argument(self, name: str, default: bool = False, value: str | None = None) -> bool:
        raw = self.get_argument(name, None) if value is None else value
        if raw is None or raw == "":
            return default
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise InvalidInput(f"{name} must be true or false.")

    # -- output ---------------------------------------------------------------

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        details = None
        exc_info = kwargs.get("exc_info")
        if exc_info:
            exc = exc_info[1]
            if isinstance(exc, web.HTTPError) and exc.log_message:
                message = exc.log_message % exc.args if exc.args else exc.log_message
            elif isinstance(exc, TemplatesError):
                message, details = exc.message, exc.details
        if status_code >= 500 and not (
            exc_info and isinstance(exc_info[1], TemplatesError | web.HTTPError)
        ):
            message = "Internal error; the service log has details."
        body: dict[str, Any] = {"status": "error", "message": message}
        if details is not None:
            body["details"] = details
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, ensure_ascii=False))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, TemplatesError):
            # Expected outcomes: answer with their status, no traceback in the log.
            if self._finished:
                return
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


class NotFoundHandler(BaseHandler):
    """Unknown routes: 404 JSON (no auth needed to be told a route does not exist)."""

    auth_required = False

    def prepare(self) -> None:  # type: ignore[override]
        raise web.HTTPError(404, f"No route {self.request.method} {self.request.path}.")
