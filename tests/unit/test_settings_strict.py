"""Settings fail loudly: a misspelt variable or TOML key, or an unknown backend, stops the process
at start with a message naming it (and exit status 1), instead of being silently ignored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from forgeml.config import Settings, unknown_variables

FORGEML = str(Path(sys.executable).parent / "forgeml")


def test_unknown_variables_are_the_ones_naming_no_setting() -> None:
    environ = {
        "FORGEML_JOBS__LEASE_S": "5",  # a nested setting
        "FORGEML_S3": "{}",  # a whole section as JSON
        "FORGEML_TOKEN": "t",  # the CLI's own
        "FORGEML_TEST_PG": "1",  # a harness knob
        "FORGEML_DATABSE_URL": "x",  # misspelt
        "FORGEML_JOBS__LEASE_SS": "3",  # misspelt inside a section
        "FORGEML_LISTEN__PORT": "1",  # nests under a plain value
        "PATH": "/bin",
    }
    assert unknown_variables(environ) == [
        "FORGEML_DATABSE_URL",
        "FORGEML_JOBS__LEASE_SS",
        "FORGEML_LISTEN__PORT",
    ]


def test_a_misspelt_key_in_a_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="lease_ss"):
        Settings(home=tmp_path, jobs={"lease_ss": 3})  # type: ignore[arg-type]


def forgeml(tmp_path: Path, verb: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    return subprocess.run(
        [FORGEML, *verb.split(), "--home", str(tmp_path / "home"), "--json"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_config_show(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return forgeml(tmp_path, "config show", **env)


# URLs are opened by the processes that use them, so `server` is the verb that meets them.
@pytest.mark.parametrize(
    ("verb", "env", "named"),
    [
        ("config show", {"FORGEML_JOBS__LEASE_SS": "3"}, "FORGEML_JOBS__LEASE_SS"),
        ("config show", {"FORGEML_EXECUTOR": "rayy"}, "executor"),
        ("server", {"FORGEML_STORAGE_URL": "ftp://x/y"}, "unsupported storage URL"),
        ("server", {"FORGEML_DATABASE_URL": "mysql://x/y"}, "unsupported database_url"),
    ],
)
def test_the_process_stops_at_start_naming_the_mistake(
    tmp_path: Path, verb: str, env: dict[str, str], named: str
) -> None:
    done = forgeml(tmp_path, verb, **env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert named in json.loads(done.stdout)["error"]["message"]


def test_a_misspelt_toml_key_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "forgeml.toml"
    toml.write_text("[jobs]\nlease_ss = 4\n")
    done = run_config_show(tmp_path, FORGEML_CONFIG_FILE=str(toml))
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "invalid_config"
    assert error["details"]["errors"][0]["loc"] == "jobs.lease_ss"


def test_client_variables_and_real_settings_start(tmp_path: Path) -> None:
    done = run_config_show(tmp_path, FORGEML_TOKEN="t", FORGEML_JOBS__LEASE_S="7")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["jobs"]["lease_s"] == 7.0
