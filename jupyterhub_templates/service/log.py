"""The service's request log: one line per request, tokens masked (the masking itself
is :mod:`jupyterhub_templates.redact`'s), and the request's metrics (:mod:`..metrics`)."""

from __future__ import annotations

import logging

from tornado.web import RequestHandler

from ..metrics import observe_request
from ..redact import install_secrets_filter, scrub_uri

__all__ = ["install_secrets_filter", "log_request", "scrub_uri"]

access_log = logging.getLogger("tornado.access")


def log_request(handler: RequestHandler) -> None:
    """Tornado ``log_function``: one line per request, tokens masked, level by status;
    the request's metrics recorded."""
    observe_request(handler)
    status = handler.get_status()
    request = handler.request
    if getattr(handler, "quiet_refusal", False):
        log = access_log.debug
    elif status < 400 or (status == 404 and request.path.endswith("/favicon.ico")):
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
