"""Fixtures of the end-to-end tests: a clean CLI environment and a real `forgeml up` server."""

from tests.support.server import env, server

__all__ = ["env", "server"]
