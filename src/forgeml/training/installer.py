"""How an environment is created and filled: `uv venv` + `uv pip install` with a shared cache, or
`python -m venv` + pip where uv is missing. uv is handed pip's own configuration (it reads none).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from forgeml.training import build_jail as bj
from forgeml.training.build_jail import BuildIsolation

InstallerChoice = Literal["auto", "pip"]
UV_CACHE = ".uv-cache"  # under the envs root: every build of this node shares downloads/unpacks
# pip settings uv understands as flags (one flag per value); the rest are listed in the log.
_UV_FLAGS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
    "trusted-host": "--allow-insecure-host",
}
# Settings that change nothing uv does here (pip's own UI, timeouts, the cache uv replaces).
_UV_MOOT = {"no-input", "disable-pip-version-check", "progress-bar", "timeout", "default-timeout",
            "no-cache-dir", "cache-dir", "retries", "quiet", "verbose"}  # fmt: skip


def find_uv() -> Path | None:
    """The uv binary: the one the `uv` package installed beside this interpreter, else PATH's."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return beside
    found = shutil.which("uv")
    return Path(found) if found else None


@dataclass(frozen=True)
class Installer:
    """The commands of one build; `uv` None means the pip fallback."""

    uv: Path | None
    cache_dir: Path
    isolation: BuildIsolation
    offline: bool = False  # a jail without network: uv need not try (and wait for) an index

    @classmethod
    def choose(cls, choice: InstallerChoice, root: Path, isolation: BuildIsolation) -> Installer:
        uv = find_uv() if choice == "auto" else None
        return cls(uv=uv, cache_dir=root / UV_CACHE, isolation=isolation)

    def for_build(self, jailed: bool) -> Installer:
        """This installer for one build: offline when it runs in a jail without network."""
        return replace(self, offline=jailed and self.isolation.network == "none")

    @property
    def name(self) -> str:
        return f"uv ({self.uv})" if self.uv else "python -m venv + pip"

    def venv(self, python: str, env: Path) -> list[str]:
        if self.uv is None:
            return [python, "-m", "venv", str(env)]
        # No pip seeded: uv installs into the env from outside, and a seed would need an index.
        return [str(self.uv), "venv", *self._common(), "--python", python,
                "--no-python-downloads", str(env)]  # fmt: skip

    def install(self, env: Path, requirements: Path) -> list[str]:
        python = str(env / "bin" / "python")
        if self.uv is None:
            # No --isolated and no index options: the machine's global pip configuration
            # (bound into the jail) and `builds.pip_env` apply, e.g. a local CPU torch wheel.
            return [python, "-m", "pip", "install", "--no-input", "--progress-bar", "off",
                    "-r", str(requirements)]  # fmt: skip
        return [str(self.uv), "pip", "install", *self._common(), "--python", python,
                *uv_index_options(self.isolation), "-r", str(requirements)]  # fmt: skip

    def ignored_settings(self) -> list[str]:
        """pip settings in force that the uv command does not carry over (for the build log)."""
        if self.uv is None:
            return []
        known = {*_UV_FLAGS, *_UV_MOOT, "no-index", "cert", "client-cert"}
        return sorted(k for k in bj.pip_settings(self.isolation) if k not in known)

    def binds(self) -> tuple[list[Path], list[Path]]:
        """(read-only, writable) paths a jailed build needs beyond the interpreter's."""
        if self.uv is None:
            return [], []
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        return [self.uv], [self.cache_dir]

    def _common(self) -> list[str]:
        # --no-config: a bundle's uv.toml or [tool.uv] must not choose indexes or settings.
        # Copies, not hardlinks: the jail binds env and cache separately (a link across two
        # mounts fails), and an env's files must not share inodes with the cache it came from.
        opts = ["--no-config", "--color", "never", "--cache-dir", str(self.cache_dir)]
        opts += ["--link-mode", "copy"]
        return opts + (["--offline"] if self.offline else [])


def uv_index_options(isolation: BuildIsolation) -> list[str]:
    """pip's index, find-links and constraints as uv flags, with pip's best-match over indexes.

    Flags, not UV_* variables, so a package's build code sees no more environment than under pip.
    """
    settings = bj.pip_settings(isolation)
    opts = ["--index-strategy", "unsafe-best-match"]  # pip's choice: the best version anywhere
    if _true(settings.get("no-index", "")):
        opts.append("--no-index")
    if settings.get("cert") or settings.get("client-cert"):
        opts.append("--system-certs")  # pip's bundle is the system's here; uv reads that store
    for key, flag in _UV_FLAGS.items():
        opts += [a for value in settings.get(key, "").split() for a in (flag, value)]
    return opts


def _true(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}
