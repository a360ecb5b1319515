"""Fixtures shared by the integration tests: one algorithm-environment cache per test process.

Environments are keyed by the bundle's digest, so modules that share the cache build each
fixture algorithm's virtualenv once instead of once per module.
"""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def envs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")
