"""Services outside `services/jobs` receive their slice of the settings, never the whole Settings."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from forgeml.config import AlgorithmSettings, Settings
from forgeml.services.algorithms.envs import AlgorithmEnvironments
from forgeml.services.algorithms.service import AlgorithmService
from forgeml.services.datasets.service import DatasetService
from forgeml.services.identity.auth import AuthService
from forgeml.services.identity.service import TokenService
from forgeml.services.notify.service import Mailer
from forgeml.services.notify.webhooks import WebhookService

SLICED = [
    DatasetService,
    AlgorithmEnvironments,
    AlgorithmService,
    AuthService,
    TokenService,
    WebhookService,
    Mailer,
]


@pytest.mark.parametrize("cls", SLICED, ids=lambda c: c.__name__)
def test_service_takes_a_slice_not_the_whole_settings(cls: type) -> None:
    params = typing.get_type_hints(cls.__init__)
    params.pop("return")
    assert params and Settings not in params.values(), params


def test_algorithm_slice_defaults_the_envs_dir_under_home(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, algorithm_max_bundle_bytes=4096, sandbox="off")
    slice_ = AlgorithmSettings.of(s)
    assert (slice_.envs_dir, slice_.max_bundle_bytes, slice_.sandbox) == (
        tmp_path / "envs",
        4096,
        "off",
    )
    assert AlgorithmSettings.of(
        s.model_copy(update={"algorithm_envs_dir": tmp_path / "e"})
    ).envs_dir == (tmp_path / "e")
