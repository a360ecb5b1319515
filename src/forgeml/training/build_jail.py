"""How an algorithm environment is built: a scrubbed environment and, when bwrap works, a jail.

`setup.py`/`pyproject.toml` hooks and sdists run owner-supplied code during `pip install`; it must
find no worker secrets (database URL, store keys, SMTP password) and no host files.
"""

from __future__ import annotations

import configparser
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from forgeml.training import sandbox as sb
from forgeml.training.contract import JAIL_TMP

BuildNetwork = Literal["none", "host"]
BUILD_PATH = "/usr/local/bin:/usr/bin:/bin"
# pip's global configuration: read by pip inside the jail, and scanned for local index paths.
PIP_CONFIG_FILES = (Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"))
# The worker user's pip configuration, relative to HOME: copied under the build's own HOME.
USER_PIP_CONFIGS = (".config/pip/pip.conf", ".pip/pip.conf")
_PATH_KEYS = ("find-links", "index-url", "extra-index-url", "constraint", "cert", "requirement")
_CERTS = ("/etc/ssl", "/etc/ca-certificates", "/etc/pki")
_NET_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf")


@dataclass(frozen=True)
class BuildIsolation:
    """What a build may see: `sandbox` mode, `network`, and the only variables besides the base
    (`pip_env`, checked by `config.pip_env_problem`)."""

    sandbox: sb.SandboxMode = "auto"
    network: BuildNetwork = "none"
    pip_env: dict[str, str] = field(default_factory=dict)
    read_paths: tuple[Path, ...] = ()  # extra read-only folders (a wheelhouse, a mirror)

    def environ(self, home: str) -> dict[str, str]:
        """The build's whole environment: nothing of the worker's is inherited."""
        env = {
            "PATH": BUILD_PATH,
            "HOME": home,
            "TMPDIR": home,
            "LANG": "C.UTF-8",
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_CACHE_DIR": "1",
        }
        env.update(self.pip_env)
        return env


def user_pip_configs() -> list[tuple[Path, str]]:
    """(file, path relative to HOME) of the worker user's existing pip configuration files."""
    home = Path.home()
    return [(home / rel, rel) for rel in USER_PIP_CONFIGS if (home / rel).is_file()]


def _local_path(value: str) -> Path | None:
    if value.startswith("file:"):
        path = Path(unquote(urlsplit(value).path))
        # A file:// "simple" index links to its files beside it (../files/...): bind its parent.
        return path.parent if path.name == "simple" else path
    return Path(value) if value.startswith("/") else None


def _pip_configs() -> configparser.ConfigParser:
    """pip's configuration files a jailed pip reads (global, then the worker user's)."""
    parser = configparser.ConfigParser(interpolation=None)
    for path in (*PIP_CONFIG_FILES, *(p for p, _ in user_pip_configs())):
        try:
            parser.read(path)
        except (OSError, configparser.Error):
            continue
    return parser


def pip_settings(isolation: BuildIsolation) -> dict[str, str]:
    """The settings a jailed `pip install` runs with: [global], then [install], then `pip_env`
    (`PIP_FIND_LINKS` is `find-links`); a later source replaces an earlier one, as in pip."""
    parser = _pip_configs()
    found: dict[str, str] = {}
    for section in ("global", "install"):
        if parser.has_section(section):
            found.update(parser.items(section))
    for name, value in isolation.pip_env.items():
        if name.startswith("PIP_"):
            found[name.removeprefix("PIP_").lower().replace("_", "-")] = value
    return found


def local_pip_paths(isolation: BuildIsolation) -> list[Path]:
    """Local folders pip's configuration points at (find-links, file:// indexes, constraints)."""
    values: list[str] = []
    parser = _pip_configs()
    for section in parser.sections():
        values += [parser.get(section, k) for k in _PATH_KEYS if parser.has_option(section, k)]
    values += list(isolation.pip_env.values())
    found = {p for v in values for item in v.split() if (p := _local_path(item)) is not None}
    found |= set(isolation.read_paths)
    return sorted(p for p in found if p.exists())


def _ro(paths: list[str] | list[Path] | tuple[Path, ...]) -> list[str]:
    return [a for p in paths if Path(p).exists() for a in ("--ro-bind", str(p), str(p))]


def build_argv(
    isolation: BuildIsolation,
    cmd: list[str],
    *,
    python: Path,
    code_dir: Path,
    source: Path,
    env_dir: Path,
    tools: tuple[list[Path], list[Path]] = ([], []),
) -> list[str]:
    """`cmd` wrapped in bwrap: /usr, the interpreter, pip's config and local indexes, `source`
    (a throw-away copy of the bundle, where in-tree builds of local projects write) at the
    bundle's path, the env folder, and the installer's `tools` (read-only binaries, writable
    cache); own namespaces, no network unless configured."""
    opts = [str(sb.BWRAP), "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    if isolation.network == "host":
        opts += ["--share-net", *_ro(list(_NET_FILES))]
    opts += [
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/sbin", "/sbin", "--proc", "/proc", "--dev", "/dev", "--tmpfs", JAIL_TMP,
    ]  # fmt: skip
    opts += _ro(sb.python_roots(python))
    opts += _ro([*PIP_CONFIG_FILES, *map(Path, _CERTS)]) + _ro(local_pip_paths(isolation))
    for path, rel in user_pip_configs():
        opts += ["--ro-bind", str(path), f"{JAIL_TMP}/{rel}"]
    opts += _ro(tools[0]) + [a for p in tools[1] for a in ("--bind", str(p), str(p))]
    opts += ["--bind", str(source), str(code_dir), "--bind", str(env_dir), str(env_dir)]
    opts += ["--uid", str(sb.NOBODY), "--gid", str(sb.NOBODY), "--chdir", str(code_dir)]
    for key, value in sorted(isolation.environ(JAIL_TMP).items()):
        opts += ["--setenv", key, value]
    return [*opts, "--", *cmd]


def jailed(isolation: BuildIsolation) -> bool:
    """Whether builds run in bwrap (`required` raises `Unavailable` when it cannot)."""
    return sb.choose(isolation.sandbox).use_bwrap


def bundle_copy(code_dir: Path, env_dir: Path) -> Path:
    """A copy of the bundle for one jailed build: the shared code folder stays untouched."""
    copy = env_dir.parent / f"{env_dir.name}.src"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(code_dir, copy, symlinks=True)
    return copy


def host_home(env_dir: Path) -> Path:
    """HOME of an unjailed build: an empty folder beside the env, removed afterwards."""
    home = env_dir.parent / f"{env_dir.name}.home"
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    for path, rel in user_pip_configs():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, home / rel)
    return home
