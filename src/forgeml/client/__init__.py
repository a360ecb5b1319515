"""ForgeML Python SDK: `from forgeml.client import Client`."""

from forgeml.client.errors import ApiError, NotConfigured
from forgeml.client.http import Client

__all__ = ["ApiError", "Client", "NotConfigured"]
