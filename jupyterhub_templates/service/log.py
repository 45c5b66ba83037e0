"""Logging that never prints secrets: request logs without tokens, and a filter that
masks known secret values wherever they appear."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tornado.web import RequestHandler

#: query arguments whose values are credentials
SECRET_ARGS = frozenset({"token", "signature", "access_token", "code", "state", "_xsrf"})
MASK = "[secret]"

access_log = logging.getLogger("tornado.access")


def scrub_uri(uri: str) -> str:
    """The request URI with credential-bearing query values replaced by a mask."""
    path, sep, query = uri.partition("?")
    if not sep:
        return path
    args = [
        (k, MASK if k.lower() in SECRET_ARGS else v)
        for k, v in parse_qsl(query, keep_blank_values=True)
    ]
    return f"{path}?{urlencode(args, safe='[]')}"


def log_request(handler: RequestHandler) -> None:
    """Tornado ``log_function``: one line per request, tokens masked, level by status."""
    status = handler.get_status()
    request = handler.request
    if status < 400 or (status == 404 and request.path.endswith("/favicon.ico")):
        log = access_log.debug if request.path.endswith("/health") else access_log.info
    elif status < 500:
        log = access_log.warning
    else:
        log = access_log.error
    user = getattr(handler, "_hub_auth_user_cache", None)
    who = f" ({user.get('kind', 'user')} {user['name']})" if user else ""
    log(
        "%d %s %s%s %.2fms",
        status,
        request.method,
        scrub_uri(request.uri or ""),
        who,
        1000.0 * request.request_time(),
    )


class SecretsFilter(logging.Filter):
    """Replaces any of the given secret strings in a record's final message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in self.secrets)) if self.secrets else None
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        message = record.getMessage()
        if self._pattern.search(message):
            record.msg = self._pattern.sub(MASK, message)
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if self._pattern.search(text):
                # Keep the traceback's shape, drop the secret-bearing message.
                record.exc_text = self._pattern.sub(
                    MASK, logging.Formatter().formatException(record.exc_info)
                )
                record.exc_info = None
        return True


def install_secrets_filter(loggers: Iterable[logging.Logger], secrets: Iterable[str]) -> Any:
    """Attach one :class:`SecretsFilter` to the handlers of the given loggers and the
    root logger, so records from any library are masked too."""
    secrets_filter = SecretsFilter(secrets)
    seen: set[int] = set()
    for logger in [*loggers, logging.getLogger()]:
        for h in logger.handlers:
            if id(h) not in seen:
                seen.add(id(h))
                h.addFilter(secrets_filter)
    return secrets_filter
