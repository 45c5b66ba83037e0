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


def _identity(url: URL) -> tuple:
    """What names a database connection, its password aside."""
    return (url.drivername, url.username, url.host, url.port, url.database)


# parsed once: Superset calls the mutator below for every connection it opens
_ANALYTICS = _identity(make_url(ANALYTICS_DB_URI)) if ANALYTICS_DB_URI else None


def DB_CONNECTION_MUTATOR(
    uri: URL, params: dict[str, Any], username: str, security_manager: Any, source: Any
) -> tuple[URL, dict[str, Any]]:
    """Give the analytics connection its password from the environment when Superset
    connects. The imported connection carries none, so the password is neither stored
    in Superset's database nor shown in its connection editor. Other connections, added
    in Superset's UI, keep the passwords Superset stores for them."""
    if _ANALYTICS is not None and _identity(uri) == _ANALYTICS:
        uri = uri.set(password=os.environ["ANALYTICS_DB_PASSWORD"])
    return uri, params
