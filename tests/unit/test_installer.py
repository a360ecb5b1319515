"""uv gets pip's configuration as flags (it reads none itself); pip is the fallback without uv."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeml.training import build_jail as bj
from forgeml.training import installer as inst
from forgeml.training.build_jail import BuildIsolation
from forgeml.training.installer import Installer

PIP_CONF = """\
[global]
find-links = /opt/wheels
extra-index-url = file:///opt/pypi/simple file:///opt/pypi-more/simple
constraint = /etc/xdg/pip/constraints.txt
cert = /etc/ssl/certs/ca-certificates.crt
timeout = 60
[install]
find-links = /srv/wheels
require-hashes = true
"""


@pytest.fixture(autouse=True)
def pip_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text(PIP_CONF)
    monkeypatch.setattr(bj, "PIP_CONFIG_FILES", (conf,))
    monkeypatch.setattr(bj, "user_pip_configs", list)


def _pairs(opts: list[str], flag: str) -> list[str]:
    return [opts[i + 1] for i, o in enumerate(opts) if o == flag]


def test_pip_settings_install_section_and_pip_env_win() -> None:
    iso = BuildIsolation(pip_env={"PIP_INDEX_URL": "https://mirror.example/simple"})
    got = bj.pip_settings(iso)
    assert got["find-links"] == "/srv/wheels"  # [install] over [global]
    assert got["index-url"] == "https://mirror.example/simple"
    assert got["constraint"] == "/etc/xdg/pip/constraints.txt"


def test_uv_flags_carry_indexes_find_links_and_constraints() -> None:
    opts = inst.uv_index_options(BuildIsolation(pip_env={"PIP_NO_INDEX": "1"}))
    assert _pairs(opts, "--index-strategy") == ["unsafe-best-match"]  # pip's best match
    assert _pairs(opts, "--extra-index-url") == [
        "file:///opt/pypi/simple",
        "file:///opt/pypi-more/simple",
    ]
    assert _pairs(opts, "--find-links") == ["/srv/wheels"]
    assert _pairs(opts, "--constraint") == ["/etc/xdg/pip/constraints.txt"]
    assert "--no-index" in opts
    assert "--system-certs" in opts


def test_uv_commands_are_offline_configless_and_cached(tmp_path: Path) -> None:
    uv = tmp_path / "uv"
    plain = Installer(uv=uv, cache_dir=tmp_path / ".uv-cache", isolation=BuildIsolation())
    installer = plain.for_build(jailed=True)
    env = tmp_path / "env"
    venv = installer.venv("/usr/bin/python3", env)
    install = installer.install(env, tmp_path / "requirements.txt")
    for cmd in (venv, install):
        assert cmd[0] == str(uv)
        assert {"--no-config", "--offline"} <= set(cmd)
        assert _pairs(cmd, "--cache-dir") == [str(tmp_path / ".uv-cache")]
        assert _pairs(cmd, "--link-mode") == ["copy"]
    assert _pairs(install, "--python") == [str(env / "bin" / "python")]
    assert installer.ignored_settings() == ["require-hashes"]  # said in the build log
    assert installer.binds() == ([uv], [tmp_path / ".uv-cache"])
    # Unjailed, or jailed with the host network: uv may reach the index, as pip would.
    host = Installer(uv=uv, cache_dir=tmp_path / "c", isolation=BuildIsolation(network="host"))
    assert "--offline" not in host.for_build(jailed=True).install(env, tmp_path / "r.txt")
    assert "--offline" not in plain.for_build(jailed=False).install(env, tmp_path / "r.txt")


def test_pip_fallback_when_uv_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inst, "find_uv", lambda: None)
    installer = Installer.choose("auto", tmp_path, BuildIsolation())
    assert installer.venv("/usr/bin/python3", tmp_path / "e") == [
        "/usr/bin/python3",
        "-m",
        "venv",
        str(tmp_path / "e"),
    ]
    assert installer.install(tmp_path / "e", tmp_path / "r.txt")[1:4] == ["-m", "pip", "install"]
    assert installer.binds() == ([], [])
    assert Installer.choose("pip", tmp_path, BuildIsolation()).uv is None
