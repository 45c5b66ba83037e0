"""The SQL database: models, sessions and Alembic migrations."""

from .session import Database, safe_url

__all__ = ["Database", "safe_url"]
