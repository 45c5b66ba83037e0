"""The service's Prometheus metrics: every metric is defined here, and only here.

Naming follows Prometheus' guide, as JupyterHub's ``metrics.py`` does: the prefix
``jupyterhub_templates_``, then what is measured, then the unit (``_seconds``,
``_bytes``); counters end in ``_total``. A label takes values from a small, known set
(a handler class, a status code, an execution status from :mod:`.statuses`), never a
user name, a path or anything else a caller chooses: each value is a time series.

The metrics live in :data:`REGISTRY`, the service's own (not the process-wide default),
so that two services in one test process do not collide and nothing is exported that
was not defined here. Components record through the functions below rather than touching
metric objects, so a metric can change shape in one place.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram
from tornado.web import RequestHandler

__all__ = ["REGISTRY", "REQUEST_DURATION_SECONDS", "observe_request"]

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_DURATION_SECONDS = Histogram(
    "jupyterhub_templates_request_duration_seconds",
    "Time to answer a request to the service, by method, handler and status code",
    ["method", "handler", "code"],
    registry=REGISTRY,
)


def observe_request(handler: RequestHandler) -> None:
    """Record one answered request (called once per request, by the request log)."""
    REQUEST_DURATION_SECONDS.labels(
        method=handler.request.method or "",
        handler=type(handler).__name__,
        code=str(handler.get_status()),
    ).observe(handler.request.request_time())
