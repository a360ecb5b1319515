"""Saved CLI/SDK profiles (server URL + token) in a 0600 JSON file in the user's config dir, and
the server state `forgeml up` leaves in its home (`server.json`: the URL it listens on)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgeml.domain.home import default_home

SERVER_STATE = "server.json"
DEFAULT_URL = "http://127.0.0.1:8080"  # where `forgeml up` listens by default


def config_dir() -> Path:
    base = os.environ.get("FORGEML_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME", os.path.expanduser("~/.config")), "forgeml"
    )
    return Path(base)


def _path() -> Path:
    return config_dir() / "profiles.json"


@dataclass(frozen=True)
class Profile:
    name: str
    url: str
    token: str
    email: str | None = None


def _load() -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(_path().read_text())
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return {"current": None, "profiles": {}}


def get(name: str | None = None) -> Profile | None:
    data = _load()
    name = name or os.environ.get("FORGEML_PROFILE") or data.get("current")
    entry = data.get("profiles", {}).get(name) if name else None
    if not (entry and name):
        return None
    return Profile(name=name, url=entry["url"], token=entry["token"], email=entry.get("email"))


def current_name() -> str | None:
    name = os.environ.get("FORGEML_PROFILE") or _load().get("current")
    return str(name) if name else None


def names() -> list[str]:
    return sorted(_load().get("profiles", {}))


def save(profile: Profile, *, make_current: bool = True) -> Path:
    data = _load()
    entry = {"url": profile.url, "token": profile.token, "email": profile.email}
    data.setdefault("profiles", {})[profile.name] = entry
    if make_current:
        data["current"] = profile.name
    save_raw(data)
    return _path()


def use(name: str) -> bool:
    """Make a saved profile the current one; False when there is no such profile."""
    data = _load()
    if name not in data.get("profiles", {}):
        return False
    data["current"] = name
    save_raw(data)
    return True


def remove(name: str | None = None) -> bool:
    data = _load()
    name = name or data.get("current")
    if not name or name not in data.get("profiles", {}):
        return False
    del data["profiles"][name]
    if data.get("current") == name:
        data["current"] = None
    save_raw(data)
    return True


def save_raw(data: dict[str, Any]) -> None:
    _write_private(_path(), data)


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON 0600 (folder 0700) through a temp file, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def write_server_state(home: Path, url: str) -> Path:
    """Called by `forgeml up`: later CLI runs on this machine find the server through it."""
    path = home / SERVER_STATE
    _write_private(path, {"url": url, "pid": os.getpid()})
    return path


def server_url(home: Path | None = None) -> str | None:
    """The URL of the local `forgeml up` of FORGEML_HOME (default ~/.forgeml), if one ran."""
    try:
        data = json.loads(((home or default_home()) / SERVER_STATE).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    url = data.get("url") if isinstance(data, dict) else None
    return str(url) if url else None
