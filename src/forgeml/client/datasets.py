"""SDK: datasets (`client.datasets`), granted platform datasets and grants.

Uploads declare every file (size, sha256) first, so quota and path problems surface before any
byte moves; re-running an upload of the same files finds the open session and sends only what is
missing. Downloads verify sha256 and resume a partial file with a Range request.
"""

from __future__ import annotations

import builtins
import hashlib
import mimetypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from forgeml.client.errors import ApiError, error_from
from forgeml.client.transport import Transport, id_named

API = "/api/v1"
Json = dict[str, Any]
Progress = Callable[[int], None]  # bytes just moved
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LocalFile:
    path: str  # the dataset path
    local: Path
    size: int
    sha256: str

    def decl(self) -> Json:
        ctype = mimetypes.guess_type(self.local.name)[0] or "application/octet-stream"
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "content_type": ctype}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def plan(paths: list[Path | str], prefix: str = "") -> list[LocalFile]:
    """Local files to upload: a folder contributes its contents (relative paths), a file itself."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            items = sorted(x for x in p.rglob("*") if x.is_file() and not x.is_symlink())
            rels = [(x, x.relative_to(p).as_posix()) for x in items]
        else:
            rels = [(p, p.name)]
        for local, rel in rels:
            name = f"{prefix.strip('/')}/{rel}" if prefix.strip("/") else rel
            out.append(LocalFile(name, local, local.stat().st_size, sha256_file(local)))
    return out


def _quoted(path: str) -> str:
    return quote(path, safe="/")


class Datasets:
    def __init__(self, client: Transport) -> None:
        self.c = client

    def _u(self, *parts: str) -> str:
        return "/".join([f"{API}/datasets", *parts])

    # -- catalog -----------------------------------------------------------------------------

    def create(
        self, name: str, *, kind: str = "tenant", description: str = "", schema_notes: str = ""
    ) -> Json:
        body = {"name": name, "kind": kind, "description": description}
        return self.c.call("POST", self._u(), json={**body, "schema_notes": schema_notes})

    def list(self, kind: str | None = None) -> builtins.list[Json]:
        return builtins.list(self.c.pages(self._u(), {"kind": kind}))

    def get(self, dataset_id: str) -> Json:
        return self.c.call("GET", self._u(dataset_id))

    def find(self, name_or_id: str, kind: str | None = None) -> Json:
        """A dataset by id or by name."""
        if name_or_id.startswith("dst_"):
            return self.get(name_or_id)
        for ds in self.list(kind):
            if ds["name"] == name_or_id:
                return ds
        raise ApiError(404, "not_found", f"dataset {name_or_id!r} not found")

    def resolve_input(self, ref: str) -> str:
        """A dataset id, or the id of the caller's own dataset or granted platform dataset named
        `ref` (own datasets first: that is what a tenant means by a bare name)."""
        if ref.startswith("dst_"):
            return ref
        return id_named([*self.list(), *PlatformDatasets(self.c).list()], ref, "dataset")

    def delete(self, dataset_id: str) -> None:
        self.c.json("DELETE", self._u(dataset_id))

    def versions(self, dataset_id: str) -> builtins.list[Json]:
        return builtins.list(self.c.pages(self._u(dataset_id, "versions")))

    def version(self, dataset_id: str, number: int) -> Json:
        return self.c.call("GET", self._u(dataset_id, "versions", str(number)))

    def files(self, dataset_id: str, number: int) -> builtins.list[Json]:
        return builtins.list(self.c.pages(self._u(dataset_id, "versions", str(number), "files")))

    def usage(self, tenant_id: str | None = None) -> Json:
        return self.c.call(
            "GET", self._u("usage"), params={"tenant_id": tenant_id} if tenant_id else None
        )

    def presign(self, dataset_id: str, number: int, path: str) -> Json:
        url = self._u(dataset_id, "versions", str(number), "presign")
        return self.c.call("POST", url, json={"path": path})

    # -- uploads -----------------------------------------------------------------------------

    def open_upload(self, dataset_id: str, files: builtins.list[Json] | None = None) -> Json:
        return self.c.call("POST", self._u(dataset_id, "uploads"), json={"files": files or []})

    def session(self, dataset_id: str, upload_id: str) -> Json:
        return self.c.call("GET", self._u(dataset_id, "uploads", upload_id))

    def sessions(self, dataset_id: str) -> builtins.list[Json]:
        return builtins.list(self.c.pages(self._u(dataset_id, "uploads")))

    def commit(self, dataset_id: str, upload_id: str) -> Json:
        return self.c.call("POST", self._u(dataset_id, "uploads", upload_id, "commit"))

    def abort(self, dataset_id: str, upload_id: str) -> Json:
        return self.c.call("DELETE", self._u(dataset_id, "uploads", upload_id))

    def put_file(
        self, dataset_id: str, upload_id: str, f: LocalFile, progress: Progress | None = None
    ) -> Json:
        def body() -> Iterator[bytes]:
            with f.local.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    yield chunk
                    if progress:
                        progress(len(chunk))

        headers = {
            "content-length": str(f.size),
            "content-type": f.decl()["content_type"],
            "x-content-sha256": f.sha256,
        }
        url = self._u(dataset_id, "uploads", upload_id, "files", _quoted(f.path))
        return self.c.call("PUT", url, content=body(), headers=headers, timeout=None)

    def put_archive(
        self, dataset_id: str, upload_id: str, archive: Path, prefix: str = ""
    ) -> builtins.list[Json]:
        def body() -> Iterator[bytes]:
            with archive.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    yield chunk

        url = self._u(dataset_id, "uploads", upload_id, "archive")
        headers = {"content-length": str(archive.stat().st_size)}
        data: builtins.list[Json] = self.c.json(
            "PUT", url, params={"prefix": prefix}, content=body(), headers=headers, timeout=None
        )
        return data

    def put_parts(
        self, dataset_id: str, upload_id: str, f: LocalFile, progress: Progress | None = None
    ) -> Json:
        """Send a file as presigned multipart parts straight to the store (S3), then complete."""
        url = self._u(dataset_id, "uploads", upload_id, "parts")
        plan_: Json = self.c.json("POST", url, json={"path": f.path, **f.decl()})
        size = plan_["part_size"]
        with f.local.open("rb") as src, httpx.Client(timeout=300.0) as raw:
            for part in plan_["parts"]:
                src.seek((part["part_number"] - 1) * size)
                data = src.read(size)
                resp = raw.put(part["url"], content=data)
                if resp.status_code >= 300:
                    raise ApiError(resp.status_code, "store_error", resp.text[:200])
                if progress:
                    progress(len(data))
        done: Json = self.c.json("POST", f"{url}/complete", json={"path": f.path})
        return done

    def find_session(self, dataset_id: str, files: builtins.list[LocalFile]) -> Json | None:
        """An open session that declared exactly these files (same paths, sizes, sha256)."""
        want = {(f.path, f.size, f.sha256) for f in files}
        for v in self.sessions(dataset_id):
            s = self.session(dataset_id, v["id"])
            if {(x["path"], x["size"], x["sha256"]) for x in s["files"]} == want:
                return s
        return None

    def upload(
        self,
        dataset_id: str,
        paths: builtins.list[Path | str],
        *,
        prefix: str = "",
        upload_id: str | None = None,
        direct: bool = False,
        commit: bool = True,
        progress: Progress | None = None,
        on_plan: Callable[[int, int], None] | None = None,
    ) -> Json:
        """Upload files/folders as a new version; resumes the matching open session if any."""
        files = plan(paths, prefix)
        session = (
            self.session(dataset_id, upload_id)
            if upload_id
            else self.find_session(dataset_id, files)
        )
        if session is None:
            session = self.open_upload(dataset_id, [f.decl() for f in files])
        uid = session["version"]["id"]
        arrived = {x["path"] for x in session["files"] if x["state"] == "uploaded"}
        todo = [f for f in files if f.path not in arrived]
        if on_plan:
            on_plan(sum(f.size for f in files), sum(f.size for f in files if f.path in arrived))
        for f in todo:
            if direct:
                self.put_parts(dataset_id, uid, f, progress)
            else:
                self.put_file(dataset_id, uid, f, progress)
        if not commit:
            return self.session(dataset_id, uid)
        return self.commit(dataset_id, uid)

    # -- downloads ---------------------------------------------------------------------------

    def download_file(
        self,
        dataset_id: str,
        number: int,
        entry: Json,
        dest: Path,
        progress: Progress | None = None,
    ) -> Path:
        """One file to `dest`, verified; a partial `dest.part` is resumed with a Range request."""
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        if have > entry["size"]:
            part.unlink()
            have = 0
        url = self._u(dataset_id, "versions", str(number), "files", _quoted(entry["path"]))
        headers = {"range": f"bytes={have}-"} if 0 < have < entry["size"] else {}
        if have < entry["size"] or entry["size"] == 0:
            with self.c.http.stream("GET", url, headers=headers, timeout=None) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise error_from(resp)
                mode = "ab" if resp.status_code == 206 else "wb"
                with part.open(mode) as out:
                    for chunk in resp.iter_bytes(_CHUNK):
                        out.write(chunk)
                        if progress:
                            progress(len(chunk))
        got = sha256_file(part)
        if got != entry["sha256"]:
            part.unlink()
            raise ApiError(
                0, "checksum_mismatch", f"{entry['path']}: sha256 {got} != {entry['sha256']}"
            )
        os.replace(part, dest)
        return dest

    def download(
        self,
        dataset_id: str,
        number: int | None,
        dest: Path | str,
        *,
        progress: Progress | None = None,
        on_plan: Callable[[int, int], None] | None = None,
    ) -> builtins.list[Path]:
        """Every file of a version (latest when `number` is None) under `dest`, verified."""
        if number is None:
            latest = self.get(dataset_id).get("latest_version")
            if not latest:
                raise ApiError(404, "not_found", "the dataset has no committed version")
            number = int(latest["number"])
        entries = self.files(dataset_id, number)
        root = Path(dest)
        done = [
            e
            for e in entries
            if (root / e["path"]).exists() and (root / e["path"]).stat().st_size == e["size"]
        ]
        if on_plan:
            on_plan(sum(e["size"] for e in entries), sum(e["size"] for e in done))
        out = []
        for e in entries:
            target = root / e["path"]
            if e in done and sha256_file(target) == e["sha256"]:
                out.append(target)
                continue
            out.append(self.download_file(dataset_id, number, e, target, progress))
        return out


class PlatformDatasets:
    """What tenants see of granted platform datasets (admins: all), metadata only."""

    def __init__(self, client: Transport) -> None:
        self.c = client

    def list(self) -> builtins.list[Json]:
        return builtins.list(self.c.pages(f"{API}/platform-datasets"))

    def get(self, dataset_id: str) -> Json:
        return self.c.call("GET", f"{API}/platform-datasets/{dataset_id}")


class Grants:
    def __init__(self, client: Transport) -> None:
        self.c = client

    def create(
        self,
        dataset_id: str,
        tenant_id: str,
        *,
        algorithms: builtins.list[str] | None = None,
        expires_at: str | None = None,
    ) -> Json:
        body = {"dataset_id": dataset_id, "tenant_id": tenant_id, "algorithms": algorithms}
        return self.c.call("POST", f"{API}/grants", json={**body, "expires_at": expires_at})

    def list(
        self, dataset_id: str | None = None, tenant_id: str | None = None
    ) -> builtins.list[Json]:
        return builtins.list(
            self.c.pages(f"{API}/grants", {"dataset_id": dataset_id, "tenant_id": tenant_id})
        )

    def revoke(self, grant_id: str) -> Json:
        return self.c.call("DELETE", f"{API}/grants/{grant_id}")
