"""Superset's configuration in the docker-compose deployment (the `analytics` profile).

Superset reads this file through SUPERSET_CONFIG_PATH. Everything secret comes from the
environment docker-compose passes from .env; nothing here is one.
"""

import os
from typing import Any

from sqlalchemy.engine.url import URL, make_url

#: signs Superset's session cookies and encrypts the database passwords it stores
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
#: Superset's own metadata (users, dashboards, charts): its database on the PostgreSQL
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DB_URI"]

# The dashboards read views that change only when runs end; five minutes of cache keep
# a busy dashboard from querying the service's database on every view.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = CACHE_CONFIG

#: the templates service's database as the dashboard reads it (no password: see below)
ANALYTICS_DB_URI = os.environ.get("TEMPLATES_ANALYTICS_DB_URI", "")


def _same_database(a: URL, b: URL) -> bool:
    return (a.drivername, a.username, a.host, a.port, a.database) == (
        b.drivername,
        b.username,
        b.host,
        b.port,
        b.database,
    )


def DB_CONNECTION_MUTATOR(
    uri: URL, params: dict[str, Any], username: str, security_manager: Any, source: Any
) -> tuple[URL, dict[str, Any]]:
    """Give the analytics connection its password from the environment when Superset
    connects. The imported connection carries none, so the password is neither stored
    in Superset's database nor shown in its connection editor. Other connections, added
    in Superset's UI, keep the passwords Superset stores for them."""
    if ANALYTICS_DB_URI and _same_database(uri, make_url(ANALYTICS_DB_URI)):
        uri = uri.set(password=os.environ["ANALYTICS_DB_PASSWORD"])
    return uri, params
