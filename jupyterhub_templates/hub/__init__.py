"""The service's outbound calls: the Hub REST API with the service's own token, and
users' servers (contents API and the server extension) through the Hub's proxy with a
token the Hub minted for each server's owner (:mod:`.tokens`)."""

from .client import HubClient, UserServer
from .contents import ContentsClient
from .extension import ExtensionClient
from .tokens import ServerTokens

__all__ = ["ContentsClient", "ExtensionClient", "HubClient", "ServerTokens", "UserServer"]
