"""Find the MLflow runs that one execution logged, through MLflow's REST API.

Executions run with ``MLFLOW_RUN_CONTEXT`` set to a JSON object of tags (among them
``templates.execution_id``); MLflow adds those tags to every run the notebook starts. This
module searches runs by that tag over HTTP with Tornado's ``AsyncHTTPClient``; it does not
import mlflow (the service's environment does not have it).

Only ``http://`` and ``https://`` tracking URIs are supported. Credentials in the URI
(``https://user:password@mlflow.example.org``) are sent as HTTP basic auth and never appear
in error messages nor in the run URLs returned.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..errors import Unavailable

__all__ = ["MLflowUnavailable", "ensure_experiment", "filter_string", "find_runs", "redact_uri"]

#: runs per page of ``runs/search`` (MLflow's maximum is 50000; 1000 keeps pages small)
PAGE_SIZE = 1000
#: safety net against a server that keeps returning a next_page_token
MAX_PAGES = 100
#: tag MLflow sets on nested runs
PARENT_TAG = "mlflow.parentRunId"
#: characters that cannot appear inside a string literal of an MLflow search filter
_UNQUOTABLE = "'\"\\"


class MLflowUnavailable(Unavailable):
    """MLflow cannot be reached or did not answer as expected (maps to HTTP 503).

    The message names the tracking server without credentials and never contains them.
    """


def redact_uri(uri: str) -> str:
    """``uri`` without ``user:password@`` (also when unparsable: then a placeholder)."""
    try:
        parts = urlsplit(uri)
        netloc = parts.hostname or ""
        if ":" in netloc:  # IPv6 literal
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<unparsable tracking URI>"


def _split_credentials(uri: str) -> tuple[str, dict[str, str]]:
    """(base URL without credentials and trailing slash, headers carrying the credentials)."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        raise MLflowUnavailable("MLflow tracking URI is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MLflowUnavailable(
            f"MLflow tracking URI {redact_uri(uri)!r} is not an http(s) URL; "
            "only a tracking server can be queried"
        )
    headers: dict[str, str] = {}
    if parts.username is not None or parts.password is not None:
        user = unquote(parts.username or "")
        password = unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    return redact_uri(uri).rstrip("/"), headers


def filter_string(tag: str, value: str) -> str:
    """An MLflow search filter selecting the runs whose tag ``tag`` equals ``value``.

    The tag key is backquoted (it contains dots). MLflow's filter parser has no escape for
    quotes inside a string literal (it only strips the outer quotes: ``'a''b'`` would match
    the text ``a''b``), and a backslash before the closing quote breaks the tokenizer. So a
    value without ``'``, ``"`` and ``\\`` is compared with ``=``; any other value is
    matched with ``LIKE``, each of those characters replaced by the one-character wildcard
    ``_``. That selects a superset: callers must compare the tag exactly afterwards
    (:func:`find_runs` does). Keys containing a backquote are refused (ValueError).
    """
    if "`" in tag:
        raise ValueError("tag key must not contain a backquote")
    if not any(c in _UNQUOTABLE for c in value):
        return f"tags.`{tag}` = '{value}'"
    pattern = "".join("_" if c in _UNQUOTABLE else c for c in value)
    return f"tags.`{tag}` LIKE '{pattern}'"


def _iso(ms: Any) -> str | None:
    """Milliseconds since the epoch (int or str) as ISO 8601 UTC, or None when unset/0."""
    try:
        value = int(ms)
    except (TypeError, ValueError):
        return None
    if value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc).isoformat()


class _Client:
    """Minimal JSON client for one tracking server."""

    def __init__(self, tracking_uri: str, timeout: float) -> None:
        self.base, self.headers = _split_credentials(tracking_uri)
        self.timeout = timeout
        self.http = AsyncHTTPClient()

    async def call(
        self,
        method: str,
        endpoint: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        expected_errors: tuple[str, ...] = (),
    ) -> tuple[int, dict[str, Any]]:
        """(status, JSON body). 404 is returned, and so is an error whose MLflow
        ``error_code`` is one of ``expected_errors``; other failures raise
        MLflowUnavailable."""
        url = f"{self.base}/api/2.0/mlflow/{endpoint}"
        if query:
            url = f"{url}?{urlencode(query)}"
        headers = {"Accept": "application/json", **self.headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=json.dumps(body) if body is not None else None,
            connect_timeout=self.timeout,
            request_timeout=self.timeout,
            follow_redirects=False,
        )
        where = f"MLflow at {self.base}"
        try:
            response = await self.http.fetch(request, raise_error=False)
        except HTTPClientError as e:  # timeouts (599) and the like
            raise MLflowUnavailable(f"{where} did not answer: {e.message or e.code}") from None
        except OSError as e:  # connection refused, DNS, TLS
            raise MLflowUnavailable(f"{where} cannot be reached: {e.strerror or e}") from None
        if response.code == 599:
            reason = response.error.__class__.__name__ if response.error else "error"
            raise MLflowUnavailable(f"{where} did not answer ({reason})")
        try:
            data = json.loads(response.body or b"{}")
        except ValueError:
            data = None
        if response.code == 404:
            return 404, data if isinstance(data, dict) else {}
        if isinstance(data, dict) and data.get("error_code") in expected_errors:
            return response.code, data
        if response.code >= 300 or not isinstance(data, dict):
            detail = ""
            if isinstance(data, dict) and isinstance(data.get("message"), str):
                detail = f": {data['message'][:300]}"
            raise MLflowUnavailable(
                f"{where} answered {response.code} to {endpoint}{detail}"
                if response.code >= 300
                else f"{where} answered {endpoint} with something other than a JSON object"
            )
        return response.code, data


def _run_summary(run: dict[str, Any], names: dict[str, str], link_base: str) -> dict[str, Any]:
    info = run.get("info") or {}
    data = run.get("data") or {}
    tags = {t.get("key"): t.get("value") for t in data.get("tags") or []}
    metrics: dict[str, float | None] = {}
    for m in data.get("metrics") or []:
        try:
            value = float(m["value"])
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        # NaN and Infinity (MLflow stores them) are not JSON: null
        metrics[m["key"]] = value if math.isfinite(value) else None
    run_id = info.get("run_id") or info.get("run_uuid")
    exp_id = info.get("experiment_id")
    return {
        "run_id": run_id,
        "run_name": info.get("run_name") or tags.get("mlflow.runName"),
        "experiment_id": exp_id,
        "experiment_name": names.get(exp_id),
        "status": info.get("status"),
        "start_time": _iso(info.get("start_time")),
        "end_time": _iso(info.get("end_time")),
        "metrics": metrics,
        "parent_run_id": tags.get(PARENT_TAG) or None,
        "url": f"{link_base}/#/experiments/{exp_id}/runs/{run_id}",
    }


def _parents_first(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs ordered by nesting depth (top-level runs first), then start time."""
    by_id = {r["run_id"]: r for r in runs}

    def depth(run: dict[str, Any]) -> int:
        seen: set[str] = set()
        d = 0
        parent = run["parent_run_id"]
        while parent in by_id and parent not in seen:
            seen.add(parent)
            d += 1
            parent = by_id[parent]["parent_run_id"]
        return d

    return sorted(runs, key=lambda r: (depth(r), r["start_time"] or "", r["run_id"] or ""))


async def ensure_experiment(tracking_uri: str, name: str, *, timeout: float = 10) -> str:
    """The id of experiment ``name``, which is created when missing.

    Why: a notebook's first ``mlflow.start_run()`` creates the experiment named by
    ``MLFLOW_EXPERIMENT_NAME`` when it is missing, and two runs doing so at once race:
    the loser fails with RESOURCE_ALREADY_EXISTS. Created here before the run is
    dispatched, where losing that race is harmless. Raises :class:`MLflowUnavailable`.
    """
    client = _Client(tracking_uri, timeout)
    for _ in range(2):
        status, data = await client.call(
            "GET", "experiments/get-by-name", query={"experiment_name": name}
        )
        experiment = data.get("experiment") if status == 200 else None
        if isinstance(experiment, dict) and experiment.get("experiment_id"):
            return str(experiment["experiment_id"])
        if status == 404 and data.get("error_code") != "RESOURCE_DOES_NOT_EXIST":
            raise MLflowUnavailable(f"MLflow at {client.base} has no experiments API (404)")
        status, data = await client.call(
            "POST",
            "experiments/create",
            body={"name": name},
            expected_errors=("RESOURCE_ALREADY_EXISTS",),
        )
        if status == 200 and data.get("experiment_id"):
            return str(data["experiment_id"])
        # created by someone else meanwhile: read it
    raise MLflowUnavailable(f"MLflow at {client.base} neither has nor creates {name!r}")


async def find_runs(
    tracking_uri: str,
    execution_id: str,
    *,
    experiment_names: list[str],
    ui_url: str | None = None,
    tag: str = "templates.execution_id",
    timeout: float = 10,
) -> list[dict[str, Any]]:
    """The active runs whose tag ``tag`` equals ``execution_id`` in the named experiments.

    Each run is a dict: ``run_id``, ``run_name``, ``experiment_id``, ``experiment_name``,
    ``status`` (RUNNING, FINISHED, FAILED, KILLED, SCHEDULED), ``start_time`` and
    ``end_time`` (ISO 8601 UTC or None), ``metrics`` ({name: latest value, null when
    not finite}), ``parent_run_id`` (from the ``mlflow.parentRunId`` tag, or None) and ``url``
    (``{ui_url or tracking_uri}/#/experiments/{experiment_id}/runs/{run_id}``, without
    credentials). Top-level runs come first, nested runs after their parents' level; within
    a level, by start time.

    Experiments that do not exist are skipped (no experiment at all: ``[]``, without a
    search). ``timeout`` (seconds) applies to each HTTP request. Raises
    :class:`MLflowUnavailable` when the server cannot be reached, times out, or answers
    with an error (also a 404 that is not MLflow's RESOURCE_DOES_NOT_EXIST, e.g. a wrong
    URL); its message never contains the URI's credentials.
    """
    client = _Client(tracking_uri, timeout)
    link_base = redact_uri(ui_url).rstrip("/") if ui_url else client.base

    names: dict[str, str] = {}
    for name in dict.fromkeys(experiment_names):
        status, data = await client.call(
            "GET", "experiments/get-by-name", query={"experiment_name": name}
        )
        if status == 404 and data.get("error_code") != "RESOURCE_DOES_NOT_EXIST":
            # not MLflow's "no such experiment": a wrong URL or a proxy in the way
            raise MLflowUnavailable(f"MLflow at {client.base} has no experiments API (404)")
        experiment = data.get("experiment") if status == 200 else None
        if isinstance(experiment, dict) and experiment.get("experiment_id"):
            names[str(experiment["experiment_id"])] = experiment.get("name", name)
    if not names:
        return []

    body: dict[str, Any] = {
        "experiment_ids": list(names),
        "filter": filter_string(tag, str(execution_id)),
        "max_results": PAGE_SIZE,
        "run_view_type": "ACTIVE_ONLY",
    }
    runs: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        status, data = await client.call("POST", "runs/search", body=body)
        if status == 404:
            raise MLflowUnavailable(f"MLflow at {client.base} has no runs/search endpoint")
        for run in data.get("runs") or []:
            tags = {t.get("key"): t.get("value") for t in (run.get("data") or {}).get("tags") or []}
            if tags.get(tag) == str(execution_id):  # LIKE filters select a superset
                runs.append(_run_summary(run, names, link_base))
        token = data.get("next_page_token")
        if not token:
            break
        body["page_token"] = token
    return _parents_first(runs)
