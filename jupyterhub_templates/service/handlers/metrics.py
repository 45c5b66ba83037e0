"""``GET /metrics``: the service's Prometheus metrics (:mod:`jupyterhub_templates.metrics`).

Guarded as JupyterHub guards its own ``/hub/metrics``: a token (or login) holding the
``read:metrics`` scope, unless ``TemplatesService.authenticate_prometheus`` is off.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ... import metrics
from ...errors import NotAllowed
from .base import BaseHandler

#: JupyterHub's scope for reading metrics
METRICS_SCOPE = "read:metrics"
AUTHENTICATE_SETTING = "templates_authenticate_prometheus"


class MetricsHandler(BaseHandler):
    """The Prometheus text format; the gauges read from the database are refreshed first."""

    auth_required = False

    async def get(self) -> None:
        if self.settings[AUTHENTICATE_SETTING]:
            if self.current_user is None:
                self.refuse_anonymous()
            if METRICS_SCOPE not in set(self.current_user.get("scopes", [])):
                raise NotAllowed(f"Reading the metrics needs the {METRICS_SCOPE} scope.")
        await self.in_thread(self._refresh)
        body = await self.in_thread(generate_latest, metrics.REGISTRY)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(body)

    def _refresh(self) -> Any:
        metrics.set_catalog_gauges(
            templates=self.catalog.count(),
            active_executions=self.settings["executions"].records.count_active(),
        )


def routes() -> list[tuple[str, type[BaseHandler]]]:
    return [("metrics", MetricsHandler)]
