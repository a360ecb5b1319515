"""A job's phase in words: Starting while the environment builds reads so; others map 1:1."""

from __future__ import annotations

from forgeml.domain.jobs import ENV_MESSAGE, phase


def test_phase_names_the_environment_build_and_the_usual_states() -> None:
    assert phase("Starting", ENV_MESSAGE) == "building environment"
    assert phase("Starting", "claimed by r1") == "starting"
    assert phase("Downloading", "staging input data") == "staging data"
    assert phase("Training", None) == "training"
    assert phase("Uploading", None) == "uploading"
    assert phase("Completed", None) == "Completed"
