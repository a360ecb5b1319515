"""Saved CLI/SDK profiles (server URL + token) in a 0600 JSON file in the user's config dir."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
    return Profile(name=name, url=entry["url"], token=entry["token"]) if entry and name else None


def save(profile: Profile, *, make_current: bool = True) -> Path:
    data = _load()
    data.setdefault("profiles", {})[profile.name] = {"url": profile.url, "token": profile.token}
    if make_current:
        data["current"] = profile.name
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
    return path


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
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
