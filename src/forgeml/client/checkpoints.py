"""SDK part for checkpoint locations: create, list, show, browse, download (file/archive), delete.

A job uses one with `checkpoint_config={"location": name_or_id, "local_path": "/opt/ml/..."}`.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any
from urllib.parse import quote

from forgeml.client.transport import Transport, id_named

API = "/api/v1/checkpoint-locations"
Json = dict[str, Any]


class CheckpointLocations:
    def __init__(self, client: Transport) -> None:
        self.c = client

    def create(self, name: str, description: str = "") -> Json:
        return self.c.call("POST", API, json={"name": name, "description": description})

    def list(self) -> builtins.list[Json]:
        return builtins.list(self.c.pages(API))

    def resolve(self, ref: str) -> str:
        """A location id from an id or a name."""
        if ref.startswith("ckpt_"):
            return ref
        return id_named(self.list(), ref, "checkpoint location")

    def get(self, ref: str) -> Json:
        return self.c.call("GET", f"{API}/{self.resolve(ref)}")

    def files(self, ref: str, prefix: str = "") -> builtins.list[Json]:
        params = {"prefix": prefix} if prefix else None
        return builtins.list(self.c.pages(f"{API}/{self.resolve(ref)}/files", params))

    def delete(self, ref: str) -> None:
        self.c.json("DELETE", f"{API}/{self.resolve(ref)}")

    def download_file(self, ref: str, path: str, dest: Path | str) -> Path:
        """One file to `dest` (a folder keeps the file's name)."""
        target = Path(dest)
        if target.is_dir():
            target = target / path.rsplit("/", 1)[-1]
        url = f"{API}/{self.resolve(ref)}/files/{quote(path)}"
        return self.c.download(url, target, timeout=None)

    def download_archive(self, ref: str, dest: Path | str) -> Path:
        """Every file as one .tar.gz (a folder gets `<name>.tar.gz`)."""
        loc = self.get(ref)
        target = Path(dest)
        if target.is_dir():
            target = target / f"{loc['name']}.tar.gz"
        return self.c.download(f"{API}/{loc['id']}/archive", target, timeout=None)
