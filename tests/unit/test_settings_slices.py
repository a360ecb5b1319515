"""Every service receives its slice of the settings, never the whole Settings."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from forgeml.config import AlgorithmSettings, JobServiceSettings, NotifySettings, Settings
from forgeml.services.algorithms.envs import AlgorithmEnvironments
from forgeml.services.algorithms.service import AlgorithmService
from forgeml.services.datasets.service import DatasetService
from forgeml.services.identity.auth import AuthService
from forgeml.services.identity.service import TokenService
from forgeml.services.jobs.attempt import AttemptDeps
from forgeml.services.jobs.runner import JobRunService
from forgeml.services.jobs.service import JobService
from forgeml.services.jobs.submit import Submission
from forgeml.services.notify.dispatch import Dispatcher
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
    JobService,
    JobRunService,
    Submission,
    AttemptDeps,
    Dispatcher,
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


def test_job_slice_defaults_the_work_root_under_home(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, sandbox="off")
    assert JobServiceSettings.of(s).work_root == tmp_path / "work"
    jobs = s.jobs.model_copy(update={"work_dir": tmp_path / "w"})
    moved = JobServiceSettings.of(s.model_copy(update={"jobs": jobs}))
    assert (moved.work_root, moved.sandbox, moved.jobs.work_dir) == (
        tmp_path / "w",
        "off",
        tmp_path / "w",
    )


def test_notify_slice_links_to_the_public_url_else_the_listener(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, listen="127.0.0.1:9999")
    assert NotifySettings.of(s).public_url == "http://127.0.0.1:9999"
    public = s.model_copy(update={"public_url": "https://ml.example.com"})
    assert NotifySettings.of(public).public_url == "https://ml.example.com"
