"""The service's outbound calls: the Hub REST API and users' servers (contents API and
the server extension), always with the service's own token, through the Hub's proxy."""

from .client import HubClient, UserServer
from .contents import ContentsClient
from .extension import ExtensionClient

__all__ = ["ContentsClient", "ExtensionClient", "HubClient", "UserServer"]
