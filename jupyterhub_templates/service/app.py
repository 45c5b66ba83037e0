"""The Hub service ``jupyterhub-templates``: a traitlets Application serving the
catalog over Tornado, behind JupyterHub's proxy at ``/services/templates/``."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import secrets
import signal
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlparse

from jupyterhub.traitlets import EntryPointType
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets import Any as TraitAny
from traitlets import Bool, Bytes, Float, Int, Unicode, default, validate
from traitlets.config import Application, catch_config_error

from .. import jsontext
from .._version import __version__
from ..audit import AuditTrail
from ..catalog.catalog import Catalog
from ..db import Database, safe_url
from ..errors import Unavailable
from ..execution.executions import Executions
from ..execution.monitor import ExecutionMonitor
from ..execution.notifications import Notifier
from ..execution.records import ExecutionRecords
from ..hub import ContentsClient, ExtensionClient, HubClient
from ..jobs.records import JobRecords
from ..jobs.scheduler import JobScheduler
from ..metrics import Action
from ..notebooks.creator import NotebookCreator
from ..notebooks.records import NotebookRecords
from ..stores.base import TemplateStore
from ..stores.directory import DirectoryTemplateStore
from ..stores.s3 import S3TemplateStore
from .handlers import resource_routes
from .handlers.base import (
    ADMIN_SCOPE_SETTING,
    IN_FLIGHT_SETTING,
    MAX_BODY_SETTING,
    InFlight,
    NotFoundHandler,
)
from .handlers.health import HealthChecker, HealthHandler
from .handlers.metrics import AUTHENTICATE_SETTING
from .handlers.openapi import OpenAPIHandler
from .handlers.root import OAuthCallbackHandler, RootHandler
from .log import install_secrets_filter, log_request
from .oauth import ReplicatedHubOAuth

#: where template stores are found by name, built-in and third-party alike (the
#: ``[project.entry-points."jupyterhub_templates.stores"]`` table of a package)
STORE_ENTRY_POINTS = "jupyterhub_templates.stores"


def _env(name: str, fallback: str) -> str:
    return os.environ.get(name) or fallback


def _service_secret(purpose: bytes, env_name: str) -> bytes:
    """A key for ``purpose``, derived from ``$env_name`` or else from the service's Hub
    API token (the same in every replica), or random per process when neither is set.
    Each purpose gets its own key, so one key never serves two uses."""
    seed = os.environ.get(env_name) or os.environ.get("JUPYTERHUB_API_TOKEN")
    if seed:
        return hashlib.sha256(b"jupyterhub-templates " + purpose + b"\n" + seed.encode()).digest()
    return secrets.token_bytes(32)


def _moved(to: str) -> Any:
    """A deprecated TemplatesService option that ``to`` (``Class.option``) replaced."""
    return TraitAny(None, allow_none=True, help=f"Deprecated: use {to} (still honoured).").tag(
        config=True, moved_to=to
    )


class TemplatesService(Application):
    """Serve the template catalog as a JupyterHub service."""

    name = "jupyterhub-templates"
    version = __version__
    description = """Notebook templates for JupyterHub.

    Runs as a JupyterHub service (managed or external). Configure it with a config file
    (--config), command-line options, or the JUPYTERHUB_TEMPLATES_* environment
    variables named in each option's help.
    """
    examples = """
    jupyterhub-templates --config=/etc/jupyterhub/templates_config.py
    jupyterhub-templates sync --dry-run
    """

    aliases = {
        "config": "TemplatesService.config_file",
        "db-url": "TemplatesService.db_url",
        "log-level": "Application.log_level",
        "bind-url": "TemplatesService.bind_url",
        "store": "TemplatesService.store_class",
    }
    flags = {
        "debug": ({"Application": {"log_level": logging.DEBUG}}, "Log at debug level."),
        "generate-config": (
            {"TemplatesService": {"generate_config": True}},
            "Print a commented config file (for --config) and exit.",
        ),
    }

    @default("log_level")
    def _log_level(self) -> int:
        return logging.INFO

    @default("log_format")
    def _log_format(self) -> str:
        return "[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s] %(message)s"

    @default("log_datefmt")
    def _log_datefmt(self) -> str:
        return "%Y-%m-%d %H:%M:%S"

    config_file = Unicode(
        "jupyterhub_templates_config.py",
        help="Config file to load (Python, traitlets). A missing default file is fine.",
    ).tag(config=True)

    generate_config = Bool(False, help="Write a config file and exit.").tag(config=True)

    bind_url = Unicode(
        help="""URL the service listens on.

        Default: $JUPYTERHUB_SERVICE_URL (set by JupyterHub for managed services),
        else http://127.0.0.1:10101/services/templates/.
        """,
    ).tag(config=True)

    @default("bind_url")
    def _default_bind_url(self) -> str:
        return _env("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101/services/templates/")

    base_url = Unicode(
        help="URL prefix of every route. Default: $JUPYTERHUB_SERVICE_PREFIX, "
        "else /services/templates/.",
    ).tag(config=True)

    @default("base_url")
    def _default_base_url(self) -> str:
        return _env("JUPYTERHUB_SERVICE_PREFIX", "/services/templates/")

    @validate("base_url")
    def _slashes(self, proposal: Any) -> str:
        value = "/" + proposal["value"].strip("/") + "/"
        return value.replace("//", "/")

    db_url = Unicode(
        help="""SQLAlchemy URL of the database (e.g. postgresql+psycopg2://user@host/db).

        Default: $JUPYTERHUB_TEMPLATES_DB_URL, else sqlite:///jupyterhub_templates.sqlite.
        Migrations are applied at start.
        """,
    ).tag(config=True)

    @default("db_url")
    def _default_db_url(self) -> str:
        return _env("JUPYTERHUB_TEMPLATES_DB_URL", "sqlite:///jupyterhub_templates.sqlite")

    db_pool_size = Int(10, help="Database connections kept open (PostgreSQL).").tag(config=True)

    store_class = EntryPointType(
        klass=TemplateStore,
        entry_point_group=STORE_ENTRY_POINTS,
        help="""Where templates are stored: a TemplateStore class, its import string, or
        the name of an installed store ('directory', 's3', or a third party's).

        Default: $JUPYTERHUB_TEMPLATES_STORE, else directory. Configure the store with
        c.DirectoryTemplateStore.* or c.S3TemplateStore.*.
        """,
    ).tag(config=True)

    @default("store_class")
    def _default_store_class(self) -> Any:
        return _env("JUPYTERHUB_TEMPLATES_STORE", "directory")

    authenticate_prometheus = Bool(
        True,
        help="""Whether GET /metrics needs a token (or login) holding read:metrics, as
        JupyterHub's own /hub/metrics does (JupyterHub.authenticate_prometheus). Off: the
        metrics are public, for a scraper that holds no token.""",
    ).tag(config=True)

    admin_scope = Unicode(
        "custom:templates:admin",
        help="Scope that allows uploading and deleting templates (declared in the Hub's "
        "custom_scopes).",
    ).tag(config=True)

    auth_cache_max_age = Int(
        10,
        help="""Seconds the service reuses the Hub's answer about a token for reads.

        Privileged actions (template uploads and deletes, acting for another user,
        reading or changing other users' records) always ask the Hub afresh, so an
        expired or revoked token, a deleted user or a lost role stops them at once;
        other requests see such a change within this many seconds. At least 1
        (JupyterHub's HubAuth reads 0 as "forever").
        """,
    ).tag(config=True)

    @validate("auth_cache_max_age")
    def _positive_cache_age(self, proposal: Any) -> int:
        return max(1, int(proposal["value"]))

    max_body_bytes = Int(
        1024 * 1024,
        help="""The largest JSON request body, in bytes (parameters included); larger
        ones get 413 with the JSON error, through the proxy too. Template uploads have
        their own limit (Catalog.max_upload_bytes).
        """,
    ).tag(config=True)

    max_answer_bytes = Int(
        8 * 1024 * 1024,
        help="""The largest page of a listing of records (GET /notebooks, GET
        /executions), in bytes of JSON: a page ends early rather than grow beyond it
        (its next_offset says where the next one starts). A page always holds at least
        one record.
        """,
    ).tag(config=True)

    max_workers = Int(
        8,
        help="Worker threads for database, store and file work (never on the event loop).",
    ).tag(config=True)

    download_url_expiry = Int(3600, help="Default lifetime of download URLs, in seconds.").tag(
        config=True
    )

    max_download_url_expiry = Int(
        7 * 24 * 3600, help="Longest lifetime a caller may ask for (S3 allows 7 days)."
    ).tag(config=True)

    download_url_secret = Bytes(
        help="""HMAC key for the directory store's signed download URLs.

        Default: derived from $JUPYTERHUB_TEMPLATES_DOWNLOAD_SECRET, else from the
        service's Hub API token (shared by every replica), else random per process.
        """,
    ).tag(config=True)

    @default("download_url_secret")
    def _default_download_secret(self) -> bytes:
        return _service_secret(b"download", "JUPYTERHUB_TEMPLATES_DOWNLOAD_SECRET")

    cookie_secret = Bytes(
        help="""Key that signs the service's OAuth cookies.

        Default: derived from $JUPYTERHUB_TEMPLATES_COOKIE_SECRET, else from the
        service's Hub API token, so every replica accepts the others' cookies; random
        per process when there is neither.
        """,
    ).tag(config=True)

    @default("cookie_secret")
    def _default_cookie_secret(self) -> bytes:
        return _service_secret(b"cookies", "JUPYTERHUB_TEMPLATES_COOKIE_SECRET")

    health_cache_seconds = Float(
        5.0, help="How long /health reuses its last verdict, in seconds."
    ).tag(config=True)

    shutdown_timeout = Float(
        25.0,
        help="""When stopping (SIGTERM), how long (seconds) to go on answering the
        requests under way before closing their connections. New connections are refused
        at once, so a load balancer sends new requests to another replica. Keep it below
        the time the process manager waits before killing (Kubernetes: 30 s).""",
    ).tag(config=True)

    migrate = Bool(True, help="Apply database migrations at start.").tag(config=True)

    db_startup_timeout = Float(
        60.0,
        help="At start, keep trying to reach the database this long (seconds) before "
        "giving up, so the service may start before its database.",
    ).tag(config=True)

    # -- users' servers and executions -------------------------------------------

    proxy_url = Unicode(
        help="""URL of the Hub's proxy as the service reaches it; users' servers are
        reached through it at /user/<name>/, each with a token of its owner's
        (HubClient.server_token_lifetime).

        Default: $JUPYTERHUB_TEMPLATES_PROXY_URL, else http://127.0.0.1:8000.
        """,
    ).tag(config=True)

    @default("proxy_url")
    def _default_proxy_url(self) -> str:
        return _env("JUPYTERHUB_TEMPLATES_PROXY_URL", "http://127.0.0.1:8000").rstrip("/")

    public_url = Unicode(
        help="""The Hub's public URL, for the notebook links in answers
        (e.g. https://hub.example.org).

        Default: $JUPYTERHUB_PUBLIC_URL, else the proxy URL.
        """,
    ).tag(config=True)

    @default("public_url")
    def _default_public_url(self) -> str:
        return _env("JUPYTERHUB_PUBLIC_URL", self.proxy_url).rstrip("/")

    # Options that moved to the component that uses them; the old names still work.
    server_token_lifetime = _moved("HubClient.server_token_lifetime")
    server_start_timeout = _moved("HubClient.server_start_timeout")
    first_cell_timeout = _moved("Executions.first_cell_timeout")
    max_execution_timeout = _moved("Executions.max_timeout")
    mlflow_tracking_uri = _moved("Executions.mlflow_tracking_uri")
    mlflow_ui_url = _moved("Executions.mlflow_ui_url")
    execution_poll_wait = _moved("ExecutionMonitor.poll_wait")
    server_stopped_grace = _moved("ExecutionMonitor.stopped_grace")

    load_examples = Bool(
        help="""At start, add the example templates that ship with the package to the
        catalog (only those missing; nothing is replaced).

        Default: $JUPYTERHUB_TEMPLATES_LOAD_EXAMPLES (1/0), else off.
        """,
    ).tag(config=True)

    @default("load_examples")
    def _default_load_examples(self) -> bool:
        return _env("JUPYTERHUB_TEMPLATES_LOAD_EXAMPLES", "0").lower() in ("1", "true", "yes")

    # -- runtime objects -------------------------------------------------------

    db: Database
    store: TemplateStore
    catalog: Catalog
    workers: ThreadPoolExecutor
    hub_auth: ReplicatedHubOAuth
    http_server: HTTPServer | None = None

    @catch_config_error
    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        if self.subapp is not None:
            return
        if self.generate_config:
            return
        if self.config_file:
            self.load_config_file(self.config_file)
        self.init_logging()
        self.init_components()

    def load_config_file(self, filename: str, path: str | None = None) -> None:  # type: ignore[override]
        if not os.path.exists(filename) and filename == type(self).config_file.default_value:
            return
        super().load_config_file(filename, path)

    def init_logging(self) -> None:
        self.log.propagate = False
        for name in (
            "tornado.access",
            "tornado.application",
            "tornado.general",
            "jupyterhub_templates",
            "alembic",
        ):
            logger = logging.getLogger(name)
            logger.propagate = False
            logger.setLevel(self.log_level)
            logger.handlers = self.log.handlers
        secret_values = [
            os.environ.get("JUPYTERHUB_API_TOKEN", ""),
            os.environ.get("JUPYTERHUB_TEMPLATES_S3_SECRET_KEY", ""),
            os.environ.get("JUPYTERHUB_TEMPLATES_DOWNLOAD_SECRET", ""),
            os.environ.get("JUPYTERHUB_TEMPLATES_COOKIE_SECRET", ""),
        ]
        from sqlalchemy.engine import make_url

        password = make_url(self.db_url).password
        if password:
            secret_values.append(str(password))
        install_secrets_filter([self.log], secret_values)

    def init_components(self) -> None:
        """Database (migrated), store and catalog."""
        self.db = Database(self.db_url, pool_size=self.db_pool_size)
        self._wait_for_database()
        self.store = self.store_class(parent=self, log=self.log)
        # Secret values configured on the store are masked in logs too.
        secret_key = getattr(self.store, "secret_key", "")
        if secret_key:
            install_secrets_filter([self.log], [secret_key])
        self.catalog = Catalog(self.db, self.store, parent=self, log=self.log)
        self.in_flight = InFlight()
        self.workers = ThreadPoolExecutor(self.max_workers, thread_name_prefix="templates")
        # work on large payloads waits here for its turn, not in a worker thread
        self.bulk_lane = ThreadPoolExecutor(1, thread_name_prefix="templates-bulk")
        self.log.info("database: %s", safe_url(self.db_url))
        self.log.info("template store: %s", self.store.describe())
        if self.load_examples:
            from ..examples import example_templates

            examples = {name: path.read_bytes() for name, path in example_templates().items()}
            added = self.catalog.add_missing(examples, uploader="examples")
            if added:
                self.log.info("example templates added: %s", ", ".join(added))

    def _wait_for_database(self) -> None:
        deadline = time.monotonic() + self.db_startup_timeout
        delay = 0.5
        while True:
            try:
                if self.migrate:
                    self.db.upgrade()
                else:
                    self.db.check()
                return
            except Unavailable as e:
                reason = type(e.__cause__).__name__ if e.__cause__ else "unavailable"
                if time.monotonic() + delay > deadline:
                    self.log.critical(
                        "cannot reach the database %s (%s); giving up after %.0fs",
                        safe_url(self.db_url),
                        reason,
                        self.db_startup_timeout,
                    )
                    self.exit(1)
                self.log.warning(
                    "database %s not reachable yet (%s); retrying", safe_url(self.db_url), reason
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def in_bulk_lane(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Run blocking ``fn``, work on a large payload, in the one lane for such work
        (:data:`jupyterhub_templates.jsontext.BULK`)."""

        def locked() -> Any:
            with jsontext.BULK:
                return fn(*args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self.bulk_lane, locked)

    async def in_thread(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Run blocking ``fn`` in the worker pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.workers, functools.partial(fn, *args, **kwargs))

    def init_servers(self) -> None:
        """Clients of the Hub and users' servers; notebook creation; executions."""
        self._forward_moved_options()
        self.hub = HubClient(
            self.hub_auth.api_url,
            self.hub_auth.api_token,
            self.proxy_url,
            parent=self,
            log=self.log,
        )
        self.notebook_records = NotebookRecords(self.db)
        self.creator = NotebookCreator(
            catalog=self.catalog,
            records=self.notebook_records,
            hub=self.hub,
            contents=ContentsClient(self.hub),
            in_thread=self.in_thread,
            public_url=self.public_url,
            max_claims=self.db_pool_size,
            parent=self,
            log=self.log,
        )
        execution_records = ExecutionRecords(self.db, self.base_url)
        self.executions = Executions(
            records=execution_records,
            notebooks=self.notebook_records,
            hub=self.hub,
            extension=ExtensionClient(self.hub),
            in_thread=self.in_thread,
            public_url=self.public_url,
            declared_parameters=self.catalog.declared_parameters,
            parent=self,
            log=self.log,
        )
        self.jobs = JobScheduler(
            records=JobRecords(self.db, execution_records.describe),
            creator=self.creator,
            executions=self.executions,
            in_thread=self.in_thread,
            parent=self,
            log=self.log,
        )
        self.audit = AuditTrail(self.db, self.in_thread, parent=self, log=self.log)
        # a password in the MLflow URI is masked in logs like the service's other secrets,
        # and so are the notifier's keys
        notifier = self.executions.notifier
        secrets = [
            urlparse(self.executions.mlflow_tracking_uri).password,
            notifier.webhook_secret,
            notifier.smtp_password,
        ]
        if any(secrets):
            install_secrets_filter([self.log], [s for s in secrets if s])

    def _forward_moved_options(self) -> None:
        """Hand options set under their old names (see :func:`_moved`) to the
        component that owns them now, unless that component's own name is set too."""
        for name, trait in self.traits(moved_to=lambda v: v is not None).items():
            value = getattr(self, name)
            if value is None:
                continue
            cls, new = trait.metadata["moved_to"].split(".")
            if new not in self.config[cls]:
                self.config[cls][new] = value
            self.log.warning("TemplatesService.%s is deprecated: set %s.%s", name, cls, new)

    def make_app(self) -> web.Application:
        """The Tornado application with every route under :attr:`base_url`."""
        self.hub_auth = ReplicatedHubOAuth(parent=self, cache_max_age=self.auth_cache_max_age)
        self.health = HealthChecker(self, self.health_cache_seconds)
        self.init_servers()
        prefix = self.base_url
        routes: list[Any] = [(prefix + path, handler) for path, handler in resource_routes()]
        routes += [
            (prefix + "health", HealthHandler),
            (prefix + "openapi.json", OpenAPIHandler),
            (prefix + "oauth_callback", OAuthCallbackHandler),
            (prefix, RootHandler),
            (prefix.rstrip("/"), web.RedirectHandler, {"url": prefix}),
        ]
        settings = {
            "service": self,
            "catalog": self.catalog,
            "workers": self.workers,
            "hub_auth": self.hub_auth,
            "hub": self.hub,
            "creator": self.creator,
            "notebook_records": self.notebook_records,
            "executions": self.executions,
            "jobs": self.jobs,
            "base_url": prefix,
            "download_secret": self.download_url_secret,
            "health": self.health,
            ADMIN_SCOPE_SETTING: self.admin_scope,
            AUTHENTICATE_SETTING: self.authenticate_prometheus,
            "audit": self.audit,
            MAX_BODY_SETTING: self.max_body_bytes,
            "max_answer_bytes": self.max_answer_bytes,
            "cookie_secret": self.cookie_secret,
            "log_function": log_request,
            IN_FLIGHT_SETTING: self.in_flight,
            "default_handler_class": NotFoundHandler,
            "xsrf_cookies": False,  # HubOAuth checks XSRF for cookie-authenticated requests
        }
        return web.Application(routes, **settings)

    async def start_server(self) -> HTTPServer:
        """Listen on :attr:`bind_url`; return the server (tests stop it)."""
        url = urlparse(self.bind_url)
        app = self.make_app()
        # Every route streams its body and sets its own limit (BaseHandler.prepare).
        self.http_server = HTTPServer(app, xheaders=True, max_body_size=self.max_body_bytes)
        try:
            self.http_server.listen(url.port or 80, url.hostname or "127.0.0.1")
        except OSError as e:
            # The Hub routes /services/templates/ to this address whoever holds it: say
            # so plainly and stop, rather than leave another process answering for us.
            self.log.critical(
                "cannot listen on %s: %s. Another process holds it, and the Hub would send "
                "this service's requests to it; free the port or set the service's URL "
                "(JUPYTERHUB_TEMPLATES_SERVICE_PORT in jupyterhub_config.py).",
                self.bind_url,
                e.strerror or e,
            )
            self.exit(1)
        await self.executions.start()
        await self.jobs.start()
        await self.audit.start()
        self.log.info("jupyterhub-templates %s listening on %s", __version__, self.bind_url)
        return self.http_server

    async def stop(self) -> None:
        """Stop accepting connections, finish the requests being answered (at most
        ``shutdown_timeout`` seconds), then stop following runs and close the rest."""
        if self.http_server is not None:
            self.http_server.stop()
            if not await self.in_flight.drain(self.shutdown_timeout):
                self.log.warning(
                    "stopping with %d request(s) unanswered after %.0f s",
                    len(self.in_flight),
                    self.shutdown_timeout,
                )
            await self.jobs.stop()
            await self.executions.stop()
            await self.http_server.close_all_connections()
            await self.audit.stop()
            await self.hub.close_tokens()
            self.hub.close()
        self.workers.shutdown(wait=False, cancel_futures=True)
        self.bulk_lane.shutdown(wait=False, cancel_futures=True)
        if getattr(self, "health", None) is not None:
            self.health.close()
        self.db.dispose()

    def start(self) -> None:
        if self.subapp is not None:
            self.subapp.start()
            return
        if self.generate_config:
            print(self.generate_config_file())
            return
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        await self.start_server()
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()
        self.log.info("stopping")
        await self.stop()


class SyncApp(TemplatesService):
    """Rebuild the catalog from the store: templates put straight into the bucket
    appear, deleted ones vanish, changed ones get a new version."""

    name = "jupyterhub-templates-sync"
    description = "Make the template catalog match the template store."
    flags = {
        **TemplatesService.flags,
        "dry-run": ({"SyncApp": {"dry_run": True}}, "Report the differences; change nothing."),
    }
    dry_run = Bool(False, help="Report differences without changing anything.").tag(config=True)

    def start(self) -> None:
        report = self.catalog.sync(dry_run=self.dry_run)
        if not self.dry_run:
            AuditTrail(self.db, None, parent=self, log=self.log).record_now(
                username=None,
                scope="the service's command line",
                action=Action.SYNC.value,
                target=None,
                outcome="success",
                status_code=0,
                reason=_sync_summary(report),
                request_id=uuid.uuid4().hex,
                client=None,
            )
        print(json.dumps(report.as_dict(), indent=2))
        self.db.dispose()


def _sync_summary(report: Any) -> str:
    """What a sync changed, in counts (its names are in its own output)."""
    return (
        f"added {len(report.added)}, updated {len(report.updated)}, removed "
        f"{len(report.removed)}, orphans removed {len(report.orphans_removed)}"
    )


def _installed_stores() -> list[type]:
    """The template stores installed under :data:`STORE_ENTRY_POINTS` (for --help-all and
    generated config files); one that fails to load is left out, and fails when chosen."""
    found: list[type] = [DirectoryTemplateStore, S3TemplateStore]
    for entry_point in entry_points(group=STORE_ENTRY_POINTS):
        try:
            cls = entry_point.load()
        except Exception as e:  # a broken third-party package must not stop the service
            logging.getLogger(__name__).warning("store %r not loaded: %s", entry_point.name, e)
            continue
        if isinstance(cls, type) and issubclass(cls, TemplateStore) and cls not in found:
            found.append(cls)
    return found


TemplatesService.classes = [
    TemplatesService,
    Catalog,
    NotebookCreator,
    Executions,
    ExecutionMonitor,
    Notifier,
    JobScheduler,
    HubClient,
    AuditTrail,
    *_installed_stores(),
]
TemplatesService.subcommands = {
    "sync": (SyncApp, SyncApp.description),
}


def main(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    app = TemplatesService.instance()
    app.initialize(argv)
    app.start()


if __name__ == "__main__":
    main(sys.argv[1:])
