"""Logs that never print secrets, for the service and the server extension alike.

Two nets, because a secret reaches a log line in two ways:
- by value: the service's own secrets (its Hub token, S3 keys, the database password)
  are known, and any record holding one is masked;
- by place: a credential in a URL (``?token=…``, Tornado's own warning lines quote the
  whole URI) or after ``token``/``bearer`` (a header echoed in a message) is masked
  whatever its value, so a user's token refused by the service leaves no trace either.

Dependency-free beyond the standard library: users' servers import it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

#: query arguments whose values are credentials
SECRET_ARGS = frozenset({"token", "signature", "access_token", "code", "state", "_xsrf"})
MASK = "[secret]"

_QUERY_CREDENTIAL = re.compile(
    r"(?i)([?&;](?:" + "|".join(sorted(SECRET_ARGS)) + r")=)[^&\s;\"'<>)]+"
)
_HEADER_CREDENTIAL = re.compile(r"(?i)\b((?:token|bearer)\s+)[A-Za-z0-9_\-.~+/=]{16,}")


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


def scrub_text(text: str) -> str:
    """``text`` with credentials in URLs and after ``token``/``bearer`` masked."""
    if "=" in text:
        text = _QUERY_CREDENTIAL.sub(lambda m: m.group(1) + MASK, text)
    return _HEADER_CREDENTIAL.sub(lambda m: m.group(1) + MASK, text)


class SecretsFilter(logging.Filter):
    """Masks the given secret strings, and credentials by place (:func:`scrub_text`),
    in a record's final message and its traceback."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in self.secrets)) if self.secrets else None
        )

    def _clean(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return scrub_text(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            cleaned = self._clean(text)
            if cleaned != text:
                # keep the traceback's shape, drop the secret-bearing parts
                record.exc_text = cleaned
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
