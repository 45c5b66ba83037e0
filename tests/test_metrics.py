"""The metrics module is wired into the service's request handling: every answered
request is counted under its handler and status code, in the service's own registry."""

from __future__ import annotations

import socket

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httpserver import HTTPServer

from jupyterhub_templates import metrics
from jupyterhub_templates.service.app import TemplatesService


def _count(handler: str, code: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "jupyterhub_templates_request_duration_seconds_count",
        {"method": "GET", "handler": handler, "code": code},
    )
    return value or 0.0


@pytest.fixture(params=[True, False], ids=["authenticated", "public"])
async def service_url(request, tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "x" * 32)
    monkeypatch.setenv("JUPYTERHUB_CLIENT_ID", "service-templates")
    app = TemplatesService(
        db_url=f"sqlite:///{tmp_path / 'm.sqlite'}",
        config_file="",
        authenticate_prometheus=request.param,
    )
    app.config.DirectoryTemplateStore.root = str(tmp_path / "store")
    app.init_components()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = HTTPServer(app.make_app())
    server.listen(port, "127.0.0.1")
    yield f"http://127.0.0.1:{port}{app.base_url}"
    server.stop()
    app.db.dispose()


async def test_each_request_is_observed_by_handler_and_code(service_url: str) -> None:
    client = AsyncHTTPClient()
    ok, missing = _count("OpenAPIHandler", "200"), _count("NotFoundHandler", "404")
    await client.fetch(service_url + "openapi.json")
    await client.fetch(service_url + "openapi.json")
    with pytest.raises(HTTPClientError) as e:
        await client.fetch(service_url + "no/such/route")
    assert e.value.code == 404
    assert _count("OpenAPIHandler", "200") == ok + 2
    assert _count("NotFoundHandler", "404") == missing + 1
    assert (
        metrics.REGISTRY.get_sample_value(
            "jupyterhub_templates_request_duration_seconds_sum",
            {"method": "GET", "handler": "OpenAPIHandler", "code": "200"},
        )
        > 0
    )


def test_metric_names_follow_the_naming_guide() -> None:
    for family in metrics.REGISTRY.collect():
        assert family.name.startswith("jupyterhub_templates_"), family.name
        if family.type == "counter":
            assert not family.name.endswith("_total")  # the client adds it to samples
        if family.type == "histogram":
            assert family.name.endswith(("_seconds", "_bytes")), family.name


async def test_the_metrics_route_is_guarded_unless_told_otherwise(
    service_url: str, request: pytest.FixtureRequest
) -> None:
    """Without a token, /metrics is a 403 (JupyterHub's authenticate_prometheus default),
    or the text format when the service is told to serve it openly."""
    client = AsyncHTTPClient()
    response = await client.fetch(service_url + "metrics", raise_error=False)
    if "authenticated" in request.node.callspec.id:
        assert response.code == 403
        assert b'"status": "error"' in response.body
        return
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.body.decode()
    assert "jupyterhub_templates_request_duration_seconds_bucket" in text
    assert "jupyterhub_templates_templates 0.0" in text
    assert "jupyterhub_templates_executions_active 0.0" in text
