"""deploy/ stays true to the code: every FORGEML_* setting its files set is one Settings accepts
(with a value of the right type), every `forgeml` command they run exists, and the YAML parses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from forgeml.cli.main import app
from forgeml.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
YAMLS = sorted([DEPLOY / "compose.yaml", *(DEPLOY / "k8s").glob("*.yaml")])


def _documents() -> list[Any]:
    return [d for p in YAMLS for d in yaml.safe_load_all(p.read_text()) if d]


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _env_assignments() -> dict[str, dict[str, str]]:
    """{file: {FORGEML_KEY: value}} from the env file, systemd units and the YAML manifests."""
    found: dict[str, dict[str, str]] = {}
    for path in [DEPLOY / "forgeml.env", *(DEPLOY / "systemd").iterdir()]:
        pairs = re.findall(r"^(?:Environment=)?(FORGEML_[A-Z0-9_]+)=(.*)$", path.read_text(), re.M)
        found[path.name] = dict(pairs)
    for path in YAMLS:
        env: dict[str, str] = {}
        for doc in yaml.safe_load_all(path.read_text()):
            for node in _walk(doc):
                for k, v in node.items():
                    if isinstance(k, str) and k.startswith("FORGEML_"):
                        env[k] = str(v)
                if isinstance(node.get("name"), str) and node["name"].startswith("FORGEML_"):
                    env[node["name"]] = str(node.get("value", ""))
        found[path.name] = env
    return found


def test_the_yaml_files_parse_and_name_kinds() -> None:
    docs = _documents()
    kinds = {d.get("kind") for d in docs if "kind" in d}
    assert {"Deployment", "Service", "Job", "RayCluster", "Secret", "ConfigMap"} <= kinds
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert {"db", "s3", "migrate", "server", "worker", "ray-head", "ray-node", "lb"} <= set(
        compose["services"]
    )


@pytest.mark.parametrize("source", sorted(_env_assignments()))
def test_every_setting_is_one_forgeml_accepts(
    source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _env_assignments()[source]
    for key in list(__import__("os").environ):
        if key.startswith("FORGEML_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FORGEML_CONFIG_FILE", str(tmp_path / "absent.toml"))
    for key, value in env.items():
        value = value.replace("%i", "8080")  # a systemd instance name
        monkeypatch.setenv(key, value)
    settings = Settings()  # extra="forbid" and typed fields: a wrong key or value raises
    for key in env:
        path = key.removeprefix("FORGEML_").lower().split("__")
        node: Any = settings
        for part in path:
            assert hasattr(node, part), f"{source}: {key} is no setting"
            node = getattr(node, part)


def test_every_forgeml_command_they_run_exists() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    used: set[str] = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file():  # `ExecStart=…/bin/forgeml server`, `command: [forgeml, migrate]`
            text = path.read_text()
            used |= set(re.findall(r"(?:bin/forgeml |\[forgeml, )([a-z][a-z-]*)", text))
    assert {"server", "worker", "migrate"} <= used
    assert used <= commands, used - commands
