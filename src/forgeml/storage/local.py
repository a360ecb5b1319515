"""`file:///abs/path`: the embedded default store, one regular file per object under a root folder.

Writes are atomic (temp file, fsync, rename, directory fsync); staging lives in the hidden
`<root>/.forgeml-store/` (tmp/, meta/, multipart/), which listings never show.
"""

from __future__ import annotations

import builtins
import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from forgeml.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from forgeml.storage.base import CHUNK_SIZE, Data, ObjectInfo, PartInfo, UploadInfo
from forgeml.storage.common import (
    NoPresign,
    StoreBase,
    check_part_number,
    checked_chunks,
    content_type_or_default,
    resolve_range,
)
from forgeml.storage.keys import RESERVED_SEGMENT, check_key, check_prefix
from forgeml.storage.local_fs import (
    MetaStore,
    SourceStreamError,
    fsync_dir,
    guarded,
    prune_empty_dirs,
    stat_etag,
    write_atomically,
)
from forgeml.storage.local_multipart import LocalMultipart


@contextmanager
def _fs_errors(key: str) -> Iterator[None]:
    """Translate OS errors of one operation on `key` into the ForgeError tree.

    Errors of the caller's stream (say a client disconnect, itself an OSError) are not store
    errors: they arrive wrapped in `SourceStreamError` and are re-raised as they were.
    """
    try:
        yield
    except SourceStreamError as failed:
        raise failed.error from None
    except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        raise Conflict(
            f"object key {key!r} collides with a folder of other keys (file backend)"
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise InvalidInput(f"object key {key[:80]!r}: a segment is too long") from exc
        raise Unavailable(f"file store error on {key!r}: {exc.strerror or exc}") from exc


class FileObjectStore(StoreBase, NoPresign):
    """Objects as files under `root`. A `put` object's etag is its file's fingerprint (inode, size,
    mtime, as web servers do for files; no content hash), a multipart one's `md5-of-md5s-N`.

    `(etag, content type)` live in a sidecar under `.forgeml-store/meta/` tied to the file's
    inode, size and mtime; a sidecar that does not match (a crash between the two renames) is
    rebuilt by re-hashing the file. A key cannot be both an object and a "folder" of other keys
    ('a' and 'a/b'): that raises `Conflict` here, while S3 allows it.
    """

    def __init__(self, root: Path) -> None:
        if not root.is_absolute():
            raise InvalidInput(f"file store root must be absolute: {root}")
        self._root = root
        area = root / RESERVED_SEGMENT
        self._tmp = area / "tmp"
        self._meta = MetaStore(area / "meta", self._tmp)
        self._mp = LocalMultipart(area / "multipart", self._tmp, self._commit)
        try:
            for folder in (self._tmp, area / "meta", area / "multipart"):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # reported by ping(); the constructor must not fail on a transient problem

    def ping(self) -> None:
        try:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="ping-")
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            raise Unavailable(f"file store {self._root} is not writable: {exc}") from exc

    def describe(self) -> str:
        return f"file://{self._root.as_posix()}"

    def _path(self, key: str) -> Path:
        return self._root / check_key(key)

    # -- writing -------------------------------------------------------------------------------

    def _commit(self, tmp: Path, key: str, etag: str | None, content_type: str) -> ObjectInfo:
        """Atomically move a fully written, fsynced temp file into place and record its meta
        (`etag` None: the file's own fingerprint, see `stat_etag`)."""
        path = self._path(key)
        with _fs_errors(key):
            for attempt in range(5):
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.replace(tmp, path)
                    break
                except FileNotFoundError:
                    # A concurrent delete pruned the fresh, still-empty parent folder.
                    if attempt == 4 or not tmp.exists():
                        raise
            fsync_dir(path.parent)
            st = path.stat()
            etag = etag or stat_etag(st)
            self._meta.write(key, st, etag, content_type)
        return self._meta.info(key, st, etag, content_type)

    def _put(self, key: str, data: Data, ctype: str, size: int | None) -> ObjectInfo:
        # No content hash here: the etag is the file's version fingerprint (stat_etag), and
        # callers that need a digest (datasets: sha256) hash the bytes once themselves.
        chunks = guarded(checked_chunks(data, size))
        with _fs_errors(key), write_atomically(self._tmp, "put-", chunks) as tmp:
            return self._commit(tmp, key, None, ctype)

    def copy(self, src: str, dst: str) -> ObjectInfo:
        info = self.head(src)
        self._path(dst)

        def chunks() -> Iterator[bytes]:
            with self.open(src) as stream:
                yield from stream

        with _fs_errors(dst), write_atomically(self._tmp, "copy-", chunks()) as tmp:
            return self._commit(tmp, dst, info.etag, info.content_type or "")

    # -- reading -------------------------------------------------------------------------------

    def _stat(self, key: str) -> os.stat_result:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"object {key!r} not found") from None
        except OSError as exc:
            with _fs_errors(key):
                raise exc
        if not path.is_file():
            raise NotFound(f"object {key!r} not found")
        return st

    def head(self, key: str) -> ObjectInfo:
        st = self._stat(key)
        with _fs_errors(key):
            etag, ctype = self._meta.read(key, self._path(key), st)
        return self._meta.info(key, st, etag, ctype)

    def _find(self, key: str) -> object:
        return self._stat(key)  # cheaper than head(): no sidecar read

    def open(
        self, key: str, *, start: int | None = None, end: int | None = None
    ) -> AbstractContextManager[Iterator[bytes]]:
        path = self._path(key)
        try:
            # Opening pins the inode: a concurrent replace or delete cannot tear this read.
            handle = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"object {key!r} not found") from None
        try:
            bounds = resolve_range(start, end, os.fstat(handle.fileno()).st_size)
        except BaseException:
            handle.close()
            raise
        return self._stream(handle, bounds)

    @contextmanager
    def _stream(
        self, handle: BinaryIO, bounds: tuple[int, int] | None
    ) -> Iterator[Iterator[bytes]]:
        with handle:
            if bounds is None:
                yield iter(lambda: handle.read(CHUNK_SIZE), b"")
                return
            first, last = bounds
            handle.seek(first)
            yield _read_span(handle, last - first + 1)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        folder, _, partial = prefix.rpartition("/")
        start = self._root / folder if folder else self._root
        base = f"{folder}/" if folder else ""
        for key in _walk_sorted(start, base, partial, top_level=not folder):
            path = self._root / key
            try:
                st = path.stat()
                etag, _ = self._meta.read(key, path, st)
            except FileNotFoundError:
                continue  # deleted while we walked
            yield self._meta.info(key, st, etag, None)

    # -- deleting ------------------------------------------------------------------------------

    def delete(self, key: str) -> None:
        path = self._path(key)
        with _fs_errors(key):
            try:
                path.unlink()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return
            finally:
                self._meta.delete(key)
            prune_empty_dirs(path.parent, self._root)

    def delete_prefix(self, prefix: str) -> int:
        if check_prefix(prefix) == "":
            raise InvalidInput("delete_prefix needs a non-empty prefix")
        count = 0
        for info in list(self.list(prefix)):
            self.delete(info.key)
            count += 1
        return count

    # -- multipart (staging in .forgeml-store/multipart/<upload id>/) -------------------------

    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        check_key(key)
        with _fs_errors(key):
            return self._mp.create(key, content_type_or_default(content_type))

    def upload_part(self, key: str, upload_id: str, part_number: int, data: Data) -> PartInfo:
        check_key(key)
        check_part_number(part_number)
        with _fs_errors(key):
            return self._mp.upload_part(key, upload_id, part_number, data)

    def list_parts(self, key: str, upload_id: str) -> builtins.list[PartInfo]:
        check_key(key)
        with _fs_errors(key):
            return self._mp.list_parts(key, upload_id)

    def complete_multipart(
        self, key: str, upload_id: str, parts: builtins.list[PartInfo] | None = None
    ) -> ObjectInfo:
        check_key(key)
        with _fs_errors(key):
            return self._mp.complete(key, upload_id, parts)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        check_key(key)
        with _fs_errors(key):
            self._mp.abort(key, upload_id)

    def sweep_temp(self, older_than: datetime) -> int:
        cutoff = older_than.timestamp()
        removed = 0
        with _fs_errors("temp files"):
            for entry in os.scandir(self._tmp):
                # Only plain files: writers create nothing else here, and a link is never followed.
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    with suppress(FileNotFoundError):  # its writer just finished or gave up
                        os.unlink(entry.path)
                        removed += 1
        return removed

    def list_multipart_uploads(self, prefix: str = "") -> builtins.list[UploadInfo]:
        check_prefix(prefix)
        with _fs_errors(prefix):
            return self._mp.list_uploads(prefix)

    # -- presign (impossible) and local paths --------------------------------------------------

    def local_path(self, key: str) -> Path | None:
        self._stat(key)
        return self._path(key)


def _read_span(handle: BinaryIO, remaining: int) -> Iterator[bytes]:
    while remaining > 0:
        chunk = handle.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            return  # the file cannot shrink under an open handle; this is only defensive
        remaining -= len(chunk)
        yield chunk


def _walk_sorted(folder: Path, base: str, partial: str, *, top_level: bool) -> Iterator[str]:
    """Yield object keys under `folder` in S3 order (byte order of the whole key).

    Folders sort as `name + "/"`, so 'a-b' comes before everything in 'a/' exactly as in S3.
    """
    try:
        scanner = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    with scanner:
        entries = []
        for entry in scanner:
            if not entry.name.startswith(partial):
                continue
            if top_level and entry.name == RESERVED_SEGMENT:
                continue
            if entry.is_dir(follow_symlinks=False):
                entries.append((entry.name + "/", entry.path))
            elif entry.is_file(follow_symlinks=False):
                entries.append((entry.name, ""))
    for name, path in sorted(entries):
        if path:
            yield from _walk_sorted(Path(path), base + name, "", top_level=False)
        else:
            yield base + name
