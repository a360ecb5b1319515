"""`forgeml checkpoint ...` and `client.checkpoints` against the in-process app (both databases)."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from forgeml.cli import checkpoints as cli_checkpoints
from forgeml.cli.main import app
from forgeml.client import ApiError, Client
from tests.support.checkpoints import put_file
from tests.support.world import World

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def sdk(world: World, token: str) -> Client:
    return Client("http://testserver", token, transport=world.client._transport)


def test_cli_and_sdk_manage_a_location(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = world.a.tokens["member"]
    monkeypatch.setattr(cli_checkpoints, "client", lambda: sdk(world, token))

    def cli(*args: str, ok: bool = True) -> Any:
        result = CliRunner().invoke(app, ["checkpoint", *args, "--json"])
        assert (result.exit_code == 0) is ok, result.output
        lines = [ln for ln in result.stdout.splitlines() if not LOG_LINE.match(ln)]
        return json.loads("\n".join(lines))

    loc = cli("create", "nightly", "--description", "resumable runs")
    assert (loc["name"], loc["file_count"]) == ("nightly", 0)
    assert cli("create", "nightly", ok=False)["error"]["code"] == "name_taken"
    put_file(world, loc, "opt/state.json", b'{"step": 4}')
    assert [x["name"] for x in cli("ls")] == ["nightly"]
    assert cli("show", "nightly")["size_bytes"] == 11
    assert [f["path"] for f in cli("files", "nightly", "--prefix", "opt/")] == ["opt/state.json"]
    one = cli("download", "nightly", "opt/state.json", "--dest", str(tmp_path))
    assert Path(one["saved"]).read_bytes() == b'{"step": 4}'
    whole = cli("download", loc["id"], "--dest", str(tmp_path))
    with tarfile.open(fileobj=io.BytesIO(Path(whole["saved"]).read_bytes())) as tar:
        assert tar.getnames() == ["opt/state.json"]
    assert cli("rm", "nightly") == {"deleted": "nightly"}
    with sdk(world, token) as c:
        assert c.checkpoints.list() == []
        with pytest.raises(ApiError) as err:
            c.checkpoints.get("nightly")
        assert err.value.status == 404
        made = c.checkpoints.create("from-sdk")
        assert c.checkpoints.get(made["id"])["name"] == "from-sdk"
        with pytest.raises(ApiError):
            c.checkpoints.get(world_b_location(world))


def world_b_location(world: World) -> str:
    from tests.support.checkpoints import b_location

    return b_location(world)
