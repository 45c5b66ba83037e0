"""The package's version (single source for Python and the Lab extension build)."""

__version__ = "0.1.0"
