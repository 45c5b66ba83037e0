"""Template logic independent of HTTP: names, notebooks, parameters, the catalog."""

from .catalog import Catalog, SyncReport

__all__ = ["Catalog", "SyncReport"]
