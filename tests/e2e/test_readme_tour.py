"""README.md's tour, run as written: every block marked `<!-- tour -->`, in order, against a fresh
`forgeml up` (started the way the `<!-- tour:server -->` block says) on a free port with a fresh
home; a command that exits non-zero or prints an error fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.server import Server, free_port, start, stop
from tests.support.services import service_missing
from tests.support.shared_tmp import run_shared_dir

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- tour(?P<server>:server)? -->\n```(?P<lang>\w+)\n(?P<body>.*?)\n```", re.S)
# what a person would change after `make up PORT=…`; the test's server listens elsewhere
README_URL = "http://127.0.0.1:8080"
ERROR = re.compile(r"(^|\s)error:|Traceback \(most recent call last\)", re.I | re.M)
DEMO_SIGN_IN = re.compile(r"sign in as (\S+) / (\S+)")
COMMAND_TIMEOUT_S = 1200  # a --wait includes building the torch environment on a busy machine


@dataclass
class Tour:
    server_env: dict[str, str]
    steps: list[tuple[str, str]] = field(default_factory=list)  # (language, command or script)


def read_tour(readme: str) -> Tour:
    tour = Tour(server_env={})
    for m in BLOCK.finditer(readme):
        if m["server"]:
            *assignments, make, target = shlex.split(m["body"])
            assert (make, target) == ("make", "up"), m["body"]
            tour.server_env = dict(a.split("=", 1) for a in assignments)
        elif m["lang"] == "bash":
            tour.steps += [("bash", cmd) for cmd in _commands(m["body"])]
        else:
            tour.steps.append((m["lang"], m["body"]))
    return tour


def _commands(body: str) -> list[str]:
    """One command per line, joining backslash continuations; blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return [line for line in joined.splitlines() if line.strip()]


def _passwords_from(command: str, passwords: dict[str, str]) -> None:
    """`user create EMAIL … --password X` tells the test what that user later types."""
    words = shlex.split(command, comments=True)
    if "user" in words and "create" in words and "--password" in words:
        email = words[words.index("create") + 1]
        passwords[email] = words[words.index("--password") + 1]


def _login_env(command: str, passwords: dict[str, str]) -> dict[str, str]:
    """The password a person types at the `login` prompt, given as FORGEML_PASSWORD."""
    words = shlex.split(command, comments=True)
    if "login" not in words or "--email" not in words:
        return {}
    email = words[words.index("--email") + 1]
    assert email in passwords, f"the tour never says the password of {email}"
    return {"FORGEML_PASSWORD": passwords[email]}


def _workdir(tmp: Path) -> Path:
    """A fresh folder that looks like a checkout: `.venv` (this venv) and `examples/`."""
    work = tmp / "work"
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (work / "examples").symlink_to(REPO / "examples")
    return work


def test_readme_tour_runs_as_written(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if shutil.which("curl") is None:
        service_missing("curl is not installed")
    tour = read_tour((REPO / "README.md").read_text())
    assert tour.server_env and len(tour.steps) >= 20
    base = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    base |= {"FORGEML_HOME": str(tmp_path / "home"), "FORGEML_CONFIG_DIR": str(tmp_path / "cfg")}
    # an operator setting the README leaves at its default: the examples' environments that other
    # tests of this run build (torch takes minutes) are reused instead of built again
    envs = {"FORGEML_ALGORITHM_ENVS_DIR": str(run_shared_dir(tmp_path_factory, "example-envs"))}
    server = start(tmp_path / "home", free_port(), {**base, **envs, **tour.server_env})
    try:
        _run_steps(server, tour, base, _workdir(tmp_path))
    finally:
        stop(server)


def _run_steps(server: Server, tour: Tour, base: dict[str, str], work: Path) -> None:
    passwords = {server.info["email"]: server.info["password"]}
    for lang, step in tour.steps:
        step = step.replace(README_URL, server.url)
        if lang == "bash":
            _passwords_from(step, passwords)
            env, argv = {**base, **_login_env(step, passwords)}, ["bash", "-o", "pipefail", "-c"]
        else:
            env, argv = base, [str(work / ".venv" / "bin" / "python"), "-c"]
        res = subprocess.run(
            [*argv, step],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        out = res.stdout + res.stderr
        assert res.returncode == 0 and not ERROR.search(out), f"{step}\nrc={res.returncode}\n{out}"
        for email, password in DEMO_SIGN_IN.findall(out):
            passwords[email] = password
