"""SDK part for checkpoint locations: create, list, show, browse, download (file/archive), delete.

A job uses one with `checkpoint_config={"location": name_or_id, "local_path": "/opt/ml/..."}`.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from forgeml.client.errors import ApiError, error_from
from forgeml.client.transport import Transport

API = "/api/v1/checkpoint-locations"
Json = dict[str, Any]


class CheckpointLocations:
    def __init__(self, client: Transport) -> None:
        self.c = client

    def create(self, name: str, description: str = "") -> Json:
        data: Json = self.c.json("POST", API, json={"name": name, "description": description})
        return data

    def list(self) -> builtins.list[Json]:
        return builtins.list(self.c.pages(API))

    def resolve(self, ref: str) -> str:
        """A location id from an id or a name."""
        if ref.startswith("ckpt_"):
            return ref
        for loc in self.list():
            if loc["name"] == ref:
                return str(loc["id"])
        raise ApiError(404, "not_found", f"checkpoint location {ref!r} not found")

    def get(self, ref: str) -> Json:
        data: Json = self.c.json("GET", f"{API}/{self.resolve(ref)}")
        return data

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
        return self._save(url, target)

    def download_archive(self, ref: str, dest: Path | str) -> Path:
        """Every file as one .tar.gz (a folder gets `<name>.tar.gz`)."""
        loc = self.get(ref)
        target = Path(dest)
        if target.is_dir():
            target = target / f"{loc['name']}.tar.gz"
        return self._save(f"{API}/{loc['id']}/archive", target)

    def _save(self, url: str, target: Path) -> Path:
        part = target.with_name(target.name + ".part")
        with self.c.http.stream("GET", url, timeout=None) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise error_from(resp)
            with part.open("wb") as out:
                for chunk in resp.iter_bytes():
                    out.write(chunk)
        os.replace(part, target)
        return target
