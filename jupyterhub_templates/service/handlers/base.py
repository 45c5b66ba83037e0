"""The base handler: Hub authentication without blocking, request bodies within a
limit, JSON errors, and big JSON parsed and written in worker threads."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from jupyterhub.services.auth import HubOAuthenticated, UserNotAllowed
from tornado import web

from ... import jsontext
from ...errors import InvalidInput, NotAllowed, NotFound, TemplatesError, TooLarge
from ...metrics import Action, outcome_of
from ...redact import scrub_uri
from ..oauth import ReplicatedHubOAuth

T = TypeVar("T")

ADMIN_SCOPE_SETTING = "templates_admin_scope"
#: a request id a proxy may hand us (anything else is replaced by our own)
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")

#: the largest integer the database stores (64-bit signed); larger ones are bad input
MAX_SQL_INT = 2**63 - 1
#: the setting holding the largest JSON request body (TemplatesService.max_body_bytes)
MAX_BODY_SETTING = "templates_max_body_bytes"
#: the application setting holding its :class:`InFlight`
IN_FLIGHT_SETTING = "templates_in_flight"
#: a refused body is read and dropped up to this many times its limit, so that the
#: answer reaches the client through the proxy instead of a reset connection
DRAIN_FACTOR = 8
#: a request whose body is larger than this is large: its body is parsed, checked and
#: answered in the bulk lane (:data:`jupyterhub_templates.jsontext.BULK`)
LARGE_BODY_BYTES = jsontext.LARGE_BYTES
#: answers larger than this are sent in pieces of this size, the event loop free between
SEND_PIECE_BYTES = 1024 * 1024


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


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """``raw`` as a JSON object; 400 otherwise. Blocking for large bodies."""
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
    def hub_auth(self) -> ReplicatedHubOAuth:
        return self.settings["hub_auth"]

    @hub_auth.setter
    def hub_auth(self, value: ReplicatedHubOAuth) -> None:  # required by the mixin's interface
        self.settings["hub_auth"] = value


def audit_text(value: object) -> str | None:
    """``value`` for an audit target when it is text (the request's own checks refuse
    anything else, in their order)."""
    return value if isinstance(value, str) else None


class InFlight:
    """The requests being answered, so that a stopping service (a replica restarted
    behind a load balancer) finishes them before it closes its connections."""

    def __init__(self) -> None:
        self._handlers: set[web.RequestHandler] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        #: the service is stopping: answers ask the client (the load balancer) not to
        #: send another request on their connection
        self.draining = False

    def __len__(self) -> int:
        return len(self._handlers)

    def add(self, handler: web.RequestHandler) -> None:
        self._handlers.add(handler)
        self._idle.clear()

    def discard(self, handler: web.RequestHandler) -> None:
        self._handlers.discard(handler)
        if not self._handlers:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Mark the service draining and wait (at most ``timeout`` seconds) until no
        request is being answered; whether none is."""
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


@web.stream_request_body
class BaseHandler(ServiceHubAuth, HubOAuthenticated, web.RequestHandler):
    """Common ground for every route.

    The Hub user is resolved in :meth:`prepare` with an async call (HubAuth's
    synchronous path would block the event loop while asking the Hub). Errors are
    JSON ``{"status": "error", "message": ...}``.

    Bodies stream in (:meth:`data_received`) up to :meth:`body_limit` bytes. A request
    refused before its body has arrived (not authenticated, a ``Content-Length`` over
    the limit) or whose body grows over the limit is answered once the body has been
    read and dropped (up to :data:`DRAIN_FACTOR` times the limit), whatever its method
    does: a proxy still sending when the service answers and closes reports a reset
    (502/503) instead of the service's answer, and a connection closed after an answer
    costs the proxy's next request on it.
    """

    #: whether the route needs an authenticated Hub user
    auth_required = True

    def initialize(self) -> None:
        self._chunks: list[bytes] = []
        self._received = 0
        self._refusal: BaseException | None = None

    def body_limit(self) -> int:
        """The largest body this route accepts, in bytes."""
        return int(self.settings[MAX_BODY_SETTING])

    def too_large(self) -> TooLarge:
        return TooLarge(f"The request body is over the {self.body_limit()}-byte limit.")

    def refuse_after_body(self, error: BaseException) -> None:
        """Answer ``error`` once the body has been read, whichever method the request
        names: the method Tornado calls once the body is in becomes this refusal."""
        self._refusal = error
        self._chunks = []

        async def refuse(*args: Any, **kwargs: Any) -> None:
            raise error

        setattr(self, (self.request.method or "get").lower(), refuse)

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._refusal is not None:
            return
        if self._received > self.body_limit():
            self.refuse_after_body(self.too_large())
            return
        self._chunks.append(chunk)

    @property
    def body(self) -> bytes:
        """The request body as it streamed in (empty once refused)."""
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0] if self._chunks else b""

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
        self.set_header("X-Request-Id", self.request_id)

    def _request_summary(self) -> str:
        """The request as Tornado's own warning lines quote it, credentials masked."""
        uri = scrub_uri(self.request.uri or "")
        return f"{self.request.method} {uri} ({self.request.remote_ip})"

    def compute_etag(self) -> str | None:
        """No automatic ETag: answers are ``no-store``, so no client revalidates them,
        and hashing every body cost 4 % of the event loop under load (BENCHMARKS.md). A
        handler that wants one (the download) sets the header itself."""
        return None

    @property
    def in_flight(self) -> InFlight | None:
        """The service's requests under way (None in an app made without it)."""
        return self.settings.get(IN_FLIGHT_SETTING)

    async def prepare(self) -> None:
        if self.in_flight is not None:
            self.in_flight.add(self)
        # Refusals are answered after the body, even an empty one: an answer finished in
        # prepare() of a streaming handler makes Tornado close the connection, and the
        # proxy's next request on it would meet a reset (503).
        self.request.connection.set_max_body_size(self.body_limit() * DRAIN_FACTOR)
        try:
            await self.authenticate()
            length = self.request.headers.get("Content-Length", "").strip()
            if length.isdigit() and int(length) > self.body_limit():
                raise self.too_large()
        except (TemplatesError, web.HTTPError) as e:
            self.refuse_after_body(e)

    async def authenticate(self) -> None:
        """Resolve the Hub user (403 without one where the route needs one)."""
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

    #: a refusal that is routine, not a warning (see :meth:`log_exception`)
    quiet_refusal = False

    # -- what the request did: metrics and the audit trail ----------------------

    #: HTTP method -> the action it stands for (state-changing routes only)
    actions: dict[str, Action] = {}
    #: set while handling: what it acted on, for whom, what allowed it, why it was refused
    audit_target: str | None = None
    audit_on_behalf_of: str | None = None
    audit_scope: str | None = None
    audit_reason: str | None = None

    @property
    def request_id(self) -> str:
        """The request's id: the proxy's ``X-Request-Id`` when it sent a plain one, else
        one made here; answered in ``X-Request-Id`` and kept in the audit trail."""
        if not hasattr(self, "_request_id"):
            given = self.request.headers.get("X-Request-Id", "")
            self._request_id = given if REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex
        return self._request_id

    def _access_scope(self) -> str | None:
        """The scope that let the caller use the service (the most specific held)."""
        held = set(self.current_user.get("scopes", [])) if self.current_user else set()
        held &= set(self.hub_auth.access_scopes)
        return max(held, key=len) if held else None

    def finish(self, chunk: Any = None) -> Any:
        if self.in_flight is not None and self.in_flight.draining and not self._headers_written:
            self.set_header("Connection", "close")
        return super().finish(chunk)

    def on_connection_close(self) -> None:
        self._done()
        super().on_connection_close()

    def _done(self) -> None:
        if self.in_flight is not None:
            self.in_flight.discard(self)

    def on_finish(self) -> None:
        self._done()
        action = self.actions.get(self.request.method or "")
        audit = self.settings.get("audit")
        if action is None or audit is None:
            return
        status = self.get_status()
        if action is Action.UPLOAD and status == 200:
            action = Action.REPLACE  # a new version of a template that existed
        allowed = status < 400
        audit.submit(
            username=self.current_user["name"] if self.current_user else None,
            on_behalf_of=self.audit_on_behalf_of,
            scope=(self.audit_scope or self._access_scope()) if allowed else None,
            action=action.value,
            target=self.audit_target
            or ("/".join(a for a in getattr(self, "path_args", None) or () if a) or None),
            outcome=outcome_of(status).value,
            status_code=status,
            reason=None if allowed else self.audit_reason,
            request_id=self.request_id,
            client=self.request.remote_ip,
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Tornado's, except for a refusal marked :attr:`quiet_refusal` (the request log
        still records it, at debug level)."""
        if self.quiet_refusal and isinstance(value, web.HTTPError):
            return
        super().log_exception(typ, value, tb)

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
        """Whether the caller holds the admin scope (custom:templates:admin), as far as
        the (possibly cached) answer of the Hub says; privileged actions use
        :meth:`holds_admin_scope`, which confirms it afresh."""
        user = self.current_user
        if not user:
            return False
        return self.settings[ADMIN_SCOPE_SETTING] in set(user.get("scopes", []))

    async def fresh_user(self) -> dict[str, Any]:
        """The caller as the Hub describes them now, never from the cache (once per
        request): privileged actions rely on it, so that an expired or revoked token, a
        deleted user or a lost role stops working at once, not when the cache expires.
        403 when the Hub no longer accepts the credential."""
        fresh = getattr(self, "_fresh_user", None)
        if fresh is not None:
            return fresh
        token = self.hub_auth.get_token(self)
        model = None
        if token:
            try:
                model = await self.hub_auth.user_for_token(
                    token,
                    use_cache=False,
                    session_id=self.hub_auth.get_session_id(self),
                    sync=False,
                )
            except web.HTTPError:
                raise web.HTTPError(503, "The JupyterHub API is unavailable.") from None
        if not model:
            raise NotAllowed(
                "JupyterHub no longer accepts this credential (expired or revoked); "
                "log in again or use a new token."
            )
        try:
            user = self.check_hub_user(model)
        except UserNotAllowed:
            raise NotAllowed(
                f"{model['kind']} {model['name']} may not use the templates service."
            ) from None
        self._hub_auth_user_cache = self._fresh_user = user
        self.current_user = user  # tornado keeps the first answer otherwise
        return user

    async def holds_admin_scope(self) -> bool:
        """Whether the caller holds the admin scope, confirmed with the Hub afresh. A
        cached "no" needs no confirmation: only granting is privileged."""
        if not self.is_templates_admin:
            return False
        await self.fresh_user()
        if self.is_templates_admin and self.audit_scope is None:
            self.audit_scope = self.settings[ADMIN_SCOPE_SETTING]
        return self.is_templates_admin

    async def require_admin(self, action: str) -> None:
        if not await self.holds_admin_scope():
            raise NotAllowed(
                f"Only holders of the {self.settings[ADMIN_SCOPE_SETTING]} scope may {action}."
            )

    async def in_thread(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking ``fn`` in the service's worker pool."""
        return await self.service.in_thread(fn, *args, **kwargs)

    async def in_bulk_lane(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking ``fn``, work on a large payload, in the service's bulk lane."""
        return await self.service.in_bulk_lane(fn, *args, **kwargs)

    @property
    def large_request(self) -> bool:
        """Whether the request's body is large (over :data:`LARGE_BODY_BYTES`)."""
        return len(self.body) > LARGE_BODY_BYTES

    async def in_payload_lane(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn`` on the request's payload: in the bulk lane for a large request, here
        (on the event loop: it is quick) otherwise."""
        if self.large_request:
            return await self.in_bulk_lane(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    def _named_user(self, username: object) -> str | None:
        """The ``username`` a request names when it is someone else; None for the caller."""
        if username is None or username == "":
            return None
        if not isinstance(username, str):
            raise InvalidInput("username must be a string.")
        return None if username == self.username else username

    async def acting_for(self, username: object) -> str:
        """The user a request acts for: the caller, or the named user when the caller
        may reach that user's server in the Hub (``access:servers!user=<name>`` or a
        scope that covers it, confirmed afresh): creating and running notebooks there is
        running code as that user, which the admin scope alone does not allow. 404 for a
        user the Hub does not have (told only to callers who could act for them)."""
        other = self._named_user(username)
        if other is None:
            return self.username
        self.audit_on_behalf_of = other
        caller = await self.fresh_user()
        await self._require_server_access(caller, other)
        self.audit_scope = f"access:servers!user={other}"
        return other

    async def may_read_for(self, username: object) -> str:
        """The user whose records a listing shows: the caller, or the named user for
        holders of the admin scope or callers who may act for them."""
        other = self._named_user(username)
        if other is None:
            return self.username
        if await self.holds_admin_scope():
            return other
        return await self.acting_for(other)

    async def _require_server_access(self, caller: dict[str, Any], username: str) -> None:
        scopes = set(caller.get("scopes", []))
        direct = {
            "access:servers",
            f"access:servers!user={username}",
            f"access:servers!server={username}/",
        }
        through_groups = {s for s in scopes if s.startswith("access:servers!group=")}
        refused = NotAllowed(
            f"Acting for {username!r} needs access to their server in JupyterHub "
            f"(access:servers!user={username})."
        )
        if not scopes & direct and not through_groups:
            raise refused
        try:
            target = await self.settings["hub"].get_user(username)
        except NotFound:
            if scopes & direct:
                raise
            raise refused from None
        groups = {f"access:servers!group={g}" for g in target.get("groups") or []}
        if not scopes & direct and not through_groups & groups:
            raise refused

    async def own_or_any(self, call: Callable[[str | None], Awaitable[T]]) -> T:
        """``call(owner)`` on the caller's own records (``owner`` the caller); when that
        finds nothing (NotFound) and the caller holds the admin scope (confirmed afresh,
        so only then), on anyone's (``owner`` None). So an admin's own records cost no
        extra call to the Hub, and another user's record stays a 404 to everyone else."""
        try:
            return await call(self.username)
        except NotFound:
            if not await self.holds_admin_scope():
                raise
        return await call(None)

    async def json_in_thread(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bytes:
        """``fn(*args, **kwargs)`` in the worker pool, its result encoded there too (one
        hop): for answers whose size users control (records with their parameters)."""
        return await self.in_thread(lambda: jsontext.encode(fn(*args, **kwargs)))

    async def admin_listing(self) -> bool:
        """Whether the caller asked for everyone's records (``?all=true``) and may."""
        return self.bool_argument("all") and await self.holds_admin_scope()

    # -- input helpers --------------------------------------------------------

    async def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object; 400 otherwise. A large body is parsed and
        checked in the bulk lane."""
        return await self.in_payload_lane(parse_json_body, self.body or b"{}")

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
            raise InvalidInput(f"{name} must be true or false.", field=name)
        return value

    @staticmethod
    def body_str(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
        value = body.get(name)
        if value is None:
            if required:
                raise InvalidInput(f"{name} is required.", field=name)
            return None
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string.", field=name)
        if required and not value.strip():
            raise InvalidInput(f"{name} is required.", field=name)
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
        raise InvalidInput(f"{name} must be true or false.", field=name)

    # -- output ---------------------------------------------------------------

    def write_json(self, data: Any, status: int = 200) -> None:
        """Answer ``data``, encoded here: for small answers of a known shape."""
        self.set_status(status)
        self.finish(jsontext.dumps(data))

    async def write_json_off_loop(self, data: Any, status: int = 200) -> None:
        """Answer ``data``, encoded in a worker thread (the bulk lane for a large
        request): for answers whose size users control (records, their parameters)."""
        self.set_status(status)
        run = self.in_bulk_lane if self.large_request else self.in_thread
        await self.send(await run(jsontext.encode, data))

    async def send(self, answer: bytes | str) -> None:
        """Finish with ``answer`` (JSON text, or a download). A large one goes out in
        pieces, each awaited: written at once, a 20 MB answer keeps the event loop
        sending for as long as the client takes to read it, and every other request
        waits."""
        if isinstance(answer, str):
            answer = answer.encode()
        if len(answer) <= SEND_PIECE_BYTES:
            self.finish(answer)
            return
        if "Etag" in self._headers and self.check_etag_header():
            self.finish()  # 304: the client has it
            return
        self.set_header("Content-Length", str(len(answer)))
        for start in range(0, len(answer), SEND_PIECE_BYTES):
            self.write(answer[start : start + SEND_PIECE_BYTES])
            await self.flush()
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        details = None
        field = None
        exc_info = kwargs.get("exc_info")
        if exc_info:
            exc = exc_info[1]
            if isinstance(exc, web.HTTPError) and exc.log_message:
                # tornado doubles every % of a message given without arguments
                message = exc.log_message % exc.args
            elif isinstance(exc, TemplatesError):
                message, details, field = exc.message, exc.details, exc.field
        if status_code >= 500 and not (
            exc_info and isinstance(exc_info[1], TemplatesError | web.HTTPError)
        ):
            message = "Internal error; the service log has details."
        self.audit_reason = message
        body: dict[str, Any] = {"status": "error", "message": message}
        if details is not None:
            body["details"] = details
        if field is not None:
            body["field"] = field
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(jsontext.dumps(body))

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

    async def authenticate(self) -> None:
        raise web.HTTPError(404, "No route %s %s.", self.request.method, self.request.path)
