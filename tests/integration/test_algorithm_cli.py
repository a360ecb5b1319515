"""`forgeml algorithm ...` and `client.algorithms` against the real app (both databases): register
the example folders, build with a running builder loop, list, show, deprecate, logs, download."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from forgeml.cli import algorithms as cli_algorithms
from forgeml.cli.main import app
from forgeml.client import Client
from forgeml.client.packing import file_digest
from forgeml.services.container import Services
from forgeml.workers.algorithm_builder import AlgorithmBuilder
from tests.support.algorithms import EXAMPLES
from tests.support.threads import CheckedThread
from tests.support.world import World

Cli = Callable[..., Any]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


@pytest.fixture
def builder(services: Services) -> Iterator[None]:
    """A running builder loop, as in `forgeml up`."""
    stop = threading.Event()
    loop = AlgorithmBuilder(services.algorithm_envs, "cli-test")
    loop.interval_s = 0.2
    thread = CheckedThread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(60)  # raises when the builder loop died during the test
    cache = services.algorithm_envs.cache
    for lock in cache.root.glob("*.lock") if cache.root.exists() else []:
        cache.remove(f"sha256:{lock.stem}")


def sdk(world: World, token: str) -> Client:
    transport = world.client._transport  # the app in-process, no socket
    return Client("http://testserver", token, transport=transport)


def runner_for(world: World, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Cli]:
    def as_user(token: str) -> Cli:
        def run(*args: str, ok: bool = True) -> Any:
            monkeypatch.setattr(cli_algorithms, "client", lambda: sdk(world, token))
            result = CliRunner().invoke(app, ["algorithm", *args, "--json"])
            assert (result.exit_code == 0) is ok, result.output
            # the in-process app's access log shares stdout with the command's JSON
            lines = [ln for ln in result.stdout.splitlines() if not LOG_LINE.match(ln)]
            return json.loads("\n".join(lines))

        return run

    return as_user


def test_cli_registers_both_examples_and_manages_them(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    as_user = runner_for(world, monkeypatch)
    admin, tenant = as_user(world.admin_token), as_user(world.a.tokens["member"])
    digits = admin("register", str(EXAMPLES / "digits-classifier"))
    tabular = admin("register", str(EXAMPLES / "tabular-classifier"))
    assert (digits["name"], digits["status"]) == ("digits-classifier", "registered")
    # the very same bundle again answers the version registered before (a re-run script)
    again = admin("register", str(EXAMPLES / "tabular-classifier"))
    assert (again["id"], again["already_registered"]) == (tabular["id"], True)
    rows = admin("ls")
    assert {(r["name"], r["status"]) for r in rows} == {
        ("digits-classifier", "registered"),
        ("tabular-classifier", "registered"),
    }
    shown = admin("show", "tabular-classifier", "1.0.0")
    assert shown["id"] == tabular["id"] and shown["manifest"]["requirements"]
    assert admin("deprecate", "digits-classifier", "1.0.0")["deprecated"] is True
    cards = tenant("ls")
    assert [c["name"] for c in cards] == ["tabular-classifier"]
    assert "requirements" not in json.dumps(cards) and "digest" not in json.dumps(cards)
    assert len(tenant("ls", "--deprecated")) == 2
    card = tenant("show", "tabular-classifier", "1.0.0")
    assert card["card"]["metrics"] == ["train:accuracy", "validation:accuracy", "validation:f1"]
    assert tenant("deprecate", "tabular-classifier", "1.0.0", ok=False)["error"]["code"] == (
        "not_found"
    )
    assert tenant("build-log", tabular["algorithm_id"], tabular["id"], ok=False)
    assert admin("undeprecate", digits["algorithm_id"], digits["id"])["deprecated"] is False
    assert admin("build-log", "tabular-classifier", "1.0.0")["log"] == ""
    with sdk(world, world.admin_token) as c:
        path = c.algorithms.download_bundle(tabular["algorithm_id"], tabular["id"], tmp_path)
    assert path.name == "tabular-classifier-1.0.0.tar.gz"
    assert file_digest(path) == tabular["digest"]


def tiny_folder(tmp_path: Path, name: str) -> Path:
    """An algorithm folder without requirements: its environment builds in a few seconds."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "forgeml.yaml").write_text(
        f"name: {name}\nversion: 0.1.0\nentry_point: train.py\nrequirements: requirements.txt\n"
    )
    (folder / "train.py").write_text("print('hi')\n")
    (folder / "requirements.txt").write_text("")
    return folder


def test_cli_register_build_waits_until_ready(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, builder: None
) -> None:
    folder = tiny_folder(tmp_path, "tiny")
    admin = runner_for(world, monkeypatch)(world.admin_token)
    version = admin("register", str(folder), "--build")
    assert version["status"] == "ready"
    assert "=== build succeeded" in admin("build-log", "tiny", "0.1.0")["log"]
    err = admin("rebuild", "tiny", "0.1.0", ok=False)["error"]
    assert err["code"] == "conflict"


def test_cli_build_log_follow_prints_the_build_as_it_runs(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, builder: None
) -> None:
    folder = tiny_folder(tmp_path, "follow")
    admin = sdk(world, world.admin_token)
    version = admin.algorithms.register(folder, build=True)  # queued; the loop builds it
    monkeypatch.setattr(cli_algorithms, "client", lambda: sdk(world, world.admin_token))
    result = CliRunner().invoke(app, ["algorithm", "build-log", "follow", "0.1.0", "--follow"])
    assert result.exit_code == 0, result.output
    printed = [ln for ln in result.stdout.splitlines() if not LOG_LINE.match(ln)]
    assert printed[0].startswith("creating") and "=== building environment" in printed[0]
    assert printed[-1].startswith("done") and "=== build succeeded" in printed[-1]
    build = admin.algorithms.build(version["algorithm_id"], version["id"])
    assert build is not None and build["phase"] == "done"
    lines = list(admin.algorithms.build_lines(version["algorithm_id"], version["id"]))
    assert [f"{x['phase']:<11} {x['line']}" for x in lines] == printed
