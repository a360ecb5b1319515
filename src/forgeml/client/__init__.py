"""ForgeML Python SDK: `from forgeml.client import Client`."""

from forgeml.client.errors import ApiError, NotConfigured
from forgeml.client.http import Client
from forgeml.client.jobs import Estimator, TrainingJob

__all__ = ["ApiError", "Client", "Estimator", "NotConfigured", "TrainingJob"]
