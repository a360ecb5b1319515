"""Multipart uploads of the file backend, staged in `.forgeml-store/multipart/<upload id>/`.

Each upload folder holds `upload.json` and one file per part named `<number>.<md5>`, so a part
and its etag appear together in one atomic rename. Completion claims the folder by renaming it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import datetime
from pathlib import Path

from forgeml.domain.errors import NotFound
from forgeml.storage.base import CHUNK_SIZE, Data, ObjectInfo, PartInfo, UploadInfo
from forgeml.storage.common import (
    PipelinedHash,
    checked_chunks,
    md5_hasher,
    multipart_etag,
    new_upload_id,
    select_parts,
    utc_now,
)
from forgeml.storage.local_fs import guarded, write_atomically

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_PART_FILE = re.compile(r"^(\d{5})\.([0-9a-f]{32})$")

#: `commit(tmp_file, key, etag, content_type)`: the store's atomic move-into-place.
Commit = Callable[[Path, str, str, str], ObjectInfo]


def _missing(upload_id: str) -> NotFound:
    return NotFound(f"multipart upload {upload_id[:64]!r} not found")


class LocalMultipart:
    """Upload folders under `root`; temp files under `tmp_dir` (same file system)."""

    def __init__(self, root: Path, tmp_dir: Path, commit: Commit) -> None:
        self._root = root
        self._tmp = tmp_dir
        self._commit = commit

    def _meta(self, folder: Path, upload_id: str) -> dict[str, str]:
        try:
            record = json.loads((folder / "upload.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise _missing(upload_id) from None
        if not isinstance(record, dict):
            raise _missing(upload_id)
        return {str(k): str(v) for k, v in record.items()}

    def _folder(self, key: str, upload_id: str) -> tuple[Path, dict[str, str]]:
        # The id becomes a path segment: only ids this backend could have issued are looked up.
        if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
            raise _missing(str(upload_id))
        folder = self._root / upload_id
        meta = self._meta(folder, upload_id)
        if meta.get("key") != key:
            raise _missing(upload_id)
        return folder, meta

    def create(self, key: str, content_type: str) -> str:
        upload_id = new_upload_id()
        record = {"key": key, "content_type": content_type, "initiated": utc_now().isoformat()}
        # Built under a temporary name and renamed, so an upload folder is never without its
        # upload.json (which names the key that garbage collection needs).
        staging = self._root / f"{upload_id}.new"
        staging.mkdir()
        (staging / "upload.json").write_text(json.dumps(record), encoding="utf-8")
        os.rename(staging, self._root / upload_id)
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, data: Data) -> PartInfo:
        folder, _ = self._folder(key, upload_id)
        digest = PipelinedHash(md5_hasher())
        size = 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            for chunk in checked_chunks(data, None):
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        with write_atomically(self._tmp, "part-", guarded(chunks())) as tmp:
            etag = digest.hexdigest()
            name = f"{number:05d}.{etag}"
            try:
                os.replace(tmp, folder / name)
            except FileNotFoundError:
                raise _missing(upload_id) from None  # aborted or completed meanwhile
        for other in folder.glob(f"{number:05d}.*"):
            if other.name != name:
                other.unlink(missing_ok=True)  # a replaced earlier upload of this part
        return PartInfo(number, etag, size)

    @staticmethod
    def _parts(folder: Path) -> list[PartInfo]:
        latest: dict[int, tuple[int, PartInfo]] = {}
        for entry in os.scandir(folder):
            match = _PART_FILE.match(entry.name)
            if match is None:
                continue
            st = entry.stat()
            part = PartInfo(int(match[1]), match[2], st.st_size)
            # Two files for one number exist only for an instant during a replace: newest wins.
            if part.part_number not in latest or latest[part.part_number][0] < st.st_mtime_ns:
                latest[part.part_number] = (st.st_mtime_ns, part)
        return [latest[n][1] for n in sorted(latest)]

    def list_parts(self, key: str, upload_id: str) -> list[PartInfo]:
        folder, _ = self._folder(key, upload_id)
        try:
            return self._parts(folder)
        except FileNotFoundError:
            raise _missing(upload_id) from None

    def complete(self, key: str, upload_id: str, parts: list[PartInfo] | None) -> ObjectInfo:
        folder, meta = self._folder(key, upload_id)
        claimed = self._root / f"{upload_id}.claimed-{secrets.token_hex(4)}"
        try:
            # The rename is the lock: of two racing completions only one finds the folder.
            os.rename(folder, claimed)
        except FileNotFoundError:
            raise _missing(upload_id) from None
        try:
            chosen = select_parts(self._parts(claimed), parts)
            files = [claimed / f"{p.part_number:05d}.{p.etag}" for p in chosen]
            with write_atomically(self._tmp, "complete-", _concat(files)) as tmp:
                etag = multipart_etag([p.etag for p in chosen])
                info = self._commit(tmp, key, etag, meta["content_type"])
        except BaseException:
            with suppress(OSError):
                os.rename(claimed, folder)  # give the upload back so the client can fix it
            raise
        shutil.rmtree(claimed, ignore_errors=True)
        return info

    def abort(self, key: str, upload_id: str) -> None:
        try:
            folder, _ = self._folder(key, upload_id)
        except NotFound:
            return
        trash = self._root / f"{upload_id}.aborted-{secrets.token_hex(4)}"
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def list_uploads(self, prefix: str) -> list[UploadInfo]:
        found = []
        for entry in os.scandir(self._root):
            if not _UPLOAD_ID.match(entry.name):
                continue  # claimed, aborted or half-created folders are not uploads
            try:
                meta = self._meta(Path(entry.path), entry.name)
            except NotFound:
                continue
            if meta.get("key", "").startswith(prefix):
                initiated = datetime.fromisoformat(meta["initiated"])
                found.append(UploadInfo(meta["key"], entry.name, initiated))
        return sorted(found, key=lambda u: (u.key, u.initiated))


def _concat(files: list[Path]) -> Iterator[bytes]:
    for path in files:
        with path.open("rb") as handle:
            yield from iter(lambda: handle.read(CHUNK_SIZE), b"")
