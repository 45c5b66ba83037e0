"""HTTP API of the server extension, under ``{base_url}templates/api/``.

Thin handlers: parse the request, call the :class:`~.executor.Executor`, shape the answer.
Authentication and authorization are jupyter_server's (in a JupyterHub single-user server:
the owner, whose tokens include the one the Hub service has the Hub mint for that owner
to reach this server); a request without credentials gets 403. Errors are
``{"status": "error", "message": ...}``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import InvalidInput, TemplatesError
from .executor import Executor

AUTH_RESOURCE = "templates"
EXECUTOR_SETTING = "jupyterhub_templates_executor"
MAX_WAIT = 60.0


def _reject_constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not valid JSON")


class BaseHandler(APIHandler):
    """JSON errors in the project's shape; access to the executor."""

    auth_resource = AUTH_RESOURCE

    @property
    def executor(self) -> Executor:
        """The extension's executor (set by ``TemplatesExtensionApp.initialize_settings``)."""
        return self.settings[EXECUTOR_SETTING]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """``{"status": "error", "message": ...}``; no traceback, whatever the error."""
        message = self._reason or "error"
        exc_info = kwargs.get("exc_info")
        if exc_info is not None:
            exc = exc_info[1]
            if isinstance(exc, TemplatesError):
                message = exc.message
            elif isinstance(exc, web.HTTPError):
                message = exc.reason or message
                if exc.log_message:
                    # tornado doubles every % of a message given without arguments
                    message = exc.log_message % exc.args
            elif status_code >= 500:
                message = "internal server error"
        if status_code == 403 and not self.current_user:
            message = "authentication required"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": "error", "message": message}))

    def _handle_request_exception(self, e: BaseException) -> None:
        """The one place errors become answers: the project's errors (expected
        outcomes: bad input, unknown run, ...) answer with their status and message and
        no traceback in the log; anything else is Tornado's 500."""
        if isinstance(e, TemplatesError):
            if not self._finished:
                self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    def reply(self, model: Any, status: int = 200) -> None:
        """Answer with a JSON document."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(model))

    def int_argument(self, name: str, default: int | None) -> int | None:
        """A non-negative integer query argument; 400 when malformed."""
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidInput(f"{name} must be an integer") from None
        if value < 0:
            raise InvalidInput(f"{name} must not be negative")
        return value


class ExecutionsHandler(BaseHandler):
    """``GET executions`` (list, long-poll) and ``POST executions`` (submit)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        since = self.int_argument("since", None)
        raw_wait = self.get_query_argument("wait", None)
        wait = 0.0
        if raw_wait:
            try:
                wait = float(raw_wait)
            except ValueError:
                raise InvalidInput("wait must be a number of seconds") from None
            if not math.isfinite(wait) or not 0 <= wait <= MAX_WAIT:
                raise InvalidInput(f"wait must be between 0 and {MAX_WAIT:g} seconds")
        raw_ids = self.get_query_argument("ids", None)
        ids = None
        if raw_ids is not None:
            ids = {i for i in raw_ids.split(",") if i}
        result = await self.executor.list_executions(since=since, wait=wait, ids=ids)
        self.reply(result)

    @web.authenticated
    @authorized(action="execute")
    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"", parse_constant=_reject_constant)
        except ValueError:
            raise InvalidInput("the body must be a JSON object") from None
        model = await self.executor.submit(body)
        self.reply(model, status=202)


class ExecutionHandler(BaseHandler):
    """``GET executions/{id}`` and ``DELETE executions/{id}``."""

    @web.authenticated
    @authorized
    async def get(self, execution_id: str) -> None:
        model = self.executor.get(execution_id).model()
        self.reply(model)

    @web.authenticated
    @authorized
    async def delete(self, execution_id: str) -> None:
        self.executor.delete(execution_id)
        self.set_status(204)
        self.finish()


class CancelHandler(BaseHandler):
    """``POST executions/{id}/cancel``."""

    @web.authenticated
    @authorized(action="execute")
    async def post(self, execution_id: str) -> None:
        model = await self.executor.cancel(execution_id)
        self.reply(model)


class LogHandler(BaseHandler):
    """``GET executions/{id}/log?offset=N``."""

    @web.authenticated
    @authorized
    async def get(self, execution_id: str) -> None:
        offset = self.int_argument("offset", 0) or 0
        result = self.executor.read_log(execution_id, offset)
        self.reply(result)


_ID = r"(?P<execution_id>[^/]+)"

handlers: list[tuple[str, type[BaseHandler]]] = [
    (r"/templates/api/executions/?", ExecutionsHandler),
    (rf"/templates/api/executions/{_ID}/cancel/?", CancelHandler),
    (rf"/templates/api/executions/{_ID}/log/?", LogHandler),
    (rf"/templates/api/executions/{_ID}/?", ExecutionHandler),
]
