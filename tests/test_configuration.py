"""Each component owns its options: set under its own class, or under the option's old
TemplatesService name (still honoured, with a warning), they reach the component."""

from __future__ import annotations

import logging

import pytest
from traitlets.config import Config

from jupyterhub_templates.service.app import TemplatesService


@pytest.fixture
def make_service(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "x" * 32)
    monkeypatch.setenv("JUPYTERHUB_CLIENT_ID", "service-templates")
    made: list[TemplatesService] = []

    def make(config: Config) -> TemplatesService:
        config.DirectoryTemplateStore.root = str(tmp_path / "store")
        app = TemplatesService(
            db_url=f"sqlite:///{tmp_path / 'c.sqlite'}", config_file="", config=config
        )
        app.warnings = []  # what the service logged at WARNING and above
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: app.warnings.append(record.getMessage())
        app.log.addHandler(handler)
        app.init_components()
        app.make_app()  # creates the Hub client, the creator and the executions
        made.append(app)
        return app

    yield make
    for app in made:
        app.hub.close()
        app.db.dispose()


def test_defaults(make_service) -> None:
    app = make_service(Config())
    assert not [w for w in app.warnings if "deprecated" in w]
    assert app.executions.monitor.stopped_grace == 30
    assert app.executions.first_cell_timeout == 30
    assert app.hub.server_start_timeout == 60
    assert app.hub.server_token_lifetime == 3600
    assert app.creator.claim_timeout == 60


def test_options_set_on_their_components(make_service) -> None:
    config = Config()
    config.ExecutionMonitor.stopped_grace = 7.0
    config.ExecutionMonitor.poll_wait = 3.0
    config.Executions.max_timeout = 600.0
    config.Executions.mlflow_tracking_uri = "http://mlflow.example:5000"
    config.HubClient.server_start_timeout = 9.0
    config.NotebookCreator.claim_timeout = 4.0
    config.NotebookCreator.parsed_cache_bytes = 1024
    app = make_service(config)
    assert app.executions.monitor.stopped_grace == 7.0
    assert app.executions.monitor.poll_wait == 3.0
    assert app.executions.max_timeout == 600.0
    assert app.executions.mlflow_tracking_uri == "http://mlflow.example:5000"
    assert app.hub.server_start_timeout == 9.0
    assert app.creator.claim_timeout == 4.0
    assert app.creator.parsed.max_bytes == 1024


def test_old_names_still_work_and_say_what_replaced_them(make_service) -> None:
    config = Config()
    config.TemplatesService.server_stopped_grace = 11.0
    config.TemplatesService.first_cell_timeout = 5.0
    config.TemplatesService.max_execution_timeout = 900.0
    config.TemplatesService.server_start_timeout = 0.5
    config.TemplatesService.server_token_lifetime = 120
    config.TemplatesService.mlflow_ui_url = "https://mlflow.example"
    config.TemplatesService.execution_poll_wait = 2.0
    # the new name wins where both are set
    config.TemplatesService.mlflow_tracking_uri = "http://old:5000"
    config.Executions.mlflow_tracking_uri = "http://new:5000"
    app = make_service(config)
    assert app.executions.monitor.stopped_grace == 11.0
    assert app.executions.monitor.poll_wait == 2.0
    assert app.executions.first_cell_timeout == 5.0
    assert app.executions.max_timeout == 900.0
    assert app.executions.mlflow_ui_url == "https://mlflow.example"
    assert app.executions.mlflow_tracking_uri == "http://new:5000"
    assert app.hub.server_start_timeout == 0.5
    assert app.hub.server_token_lifetime == 120
    assert app.hub.tokens.lifetime == 120
    warned = "\n".join(app.warnings)
    assert (
        "TemplatesService.server_stopped_grace is deprecated: set ExecutionMonitor.stopped_grace"
        in warned
    )
    assert (
        "TemplatesService.max_execution_timeout is deprecated: set Executions.max_timeout" in warned
    )


def test_environment_defaults_reach_the_components(make_service, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_TEMPLATES_MLFLOW_TRACKING_URI", "http://env-mlflow:5000")
    monkeypatch.setenv("JUPYTERHUB_TEMPLATES_MLFLOW_UI_URL", "https://env-mlflow")
    app = make_service(Config())
    assert app.executions.mlflow_tracking_uri == "http://env-mlflow:5000"
    assert app.executions.mlflow_ui_url == "https://env-mlflow"
