"""Safe reading of uploaded zip and tar(.gz) archives, and the hashing stream readers.

An archive is inspected whole before a byte is unpacked: member types, paths (the dataset path
rules), count, expanded size and compression ratio. Unpacking re-checks sizes as bytes flow,
because a zip's central directory can lie about them.
"""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, BinaryIO

from forgeml.domain.datasets import path_problems
from forgeml.domain.errors import InvalidInput, PayloadTooLarge


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 100_000
    max_expanded_bytes: int = 64 * 1024**3
    max_ratio: float = 200.0  # expanded bytes per compressed byte, whole archive and per member


@dataclass(frozen=True)
class Member:
    path: str  # the dataset path (prefix applied)
    name: str  # the name inside the archive
    size: int


class HashingReader:
    """A read()-able view of a byte-chunk iterator that hashes (sha256) what passes through."""

    def __init__(self, chunks: Iterable[bytes] | IO[bytes], limit: int | None = None) -> None:
        self._source: IO[bytes] | None = None
        self._iter: Iterator[bytes] | None = None
        if isinstance(chunks, io.IOBase):
            self._source = chunks  # type: ignore[assignment]
        else:
            self._iter = iter(chunks)
        self._buf = b""
        self.sha = hashlib.sha256()
        self.count = 0
        self.limit = limit

    def _next(self, n: int) -> bytes:
        if self._source is not None:
            return self._source.read(n)
        assert self._iter is not None
        return next(self._iter, b"")

    def read(self, n: int = -1) -> bytes:
        want = n if n >= 0 else 1 << 62
        parts, have = ([self._buf] if self._buf else []), len(self._buf)
        while have < want:  # join once: appending to bytes would copy quadratically
            chunk = self._next(want - have if n >= 0 else 1 << 20)
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        out, self._buf = (data, b"") if have <= want else (data[:want], data[want:])
        self.sha.update(out)
        self.count += len(out)
        if self.limit is not None and self.count > self.limit:
            raise PayloadTooLarge(f"archive member expands beyond {self.limit} bytes")
        return out

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


def sniff(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x1f\x8b"):
        return "tar"  # tarfile's "r:*" opens gzip (and bz2/xz) transparently
    raise InvalidInput("not a zip or tar(.gz) archive", code="unsupported_archive")


def _join(prefix: str, name: str) -> str:
    name = name[2:] if name.startswith("./") else name  # `tar -C dir .` writes ./a
    return f"{prefix}/{name}" if prefix else name


def _bomb(what: str) -> InvalidInput:
    return InvalidInput(f"archive refused: {what}", code="archive_bomb")


def inspect(fileobj: BinaryIO, archive_size: int, prefix: str, lim: ArchiveLimits) -> list[Member]:
    """Every regular-file member, or InvalidInput naming every problem found."""
    fileobj.seek(0)
    kind = sniff(fileobj.read(512))
    fileobj.seek(0)
    if kind == "zip":
        members = _zip_members(fileobj, prefix, lim)
    else:
        members = _tar_members(fileobj, prefix, archive_size, lim)
    if len(members) > lim.max_members:
        raise _bomb(f"{len(members)} members (limit {lim.max_members})")
    total = sum(m.size for m in members)
    if total > lim.max_expanded_bytes:
        raise _bomb(f"expands to {total} bytes (limit {lim.max_expanded_bytes})")
    if total > lim.max_ratio * max(archive_size, 1) and total > 1024 * 1024:
        raise _bomb(f"compression ratio over {lim.max_ratio:g}:1")
    problems = path_problems([m.path for m in members], loc="archive")
    if problems:
        raise InvalidInput.fields(problems, message="archive member paths refused")
    return members


def _zip_members(fileobj: BinaryIO, prefix: str, lim: ArchiveLimits) -> list[Member]:
    try:
        zf = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"corrupt zip archive: {exc}", code="bad_archive") from exc
    out, bad = [], []
    for info in zf.infolist():
        mode = info.external_attr >> 16
        if info.is_dir():
            continue
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            bad.append({"loc": "archive", "msg": f"{info.filename!r}: links/devices are refused"})
        elif info.flag_bits & 0x1:
            bad.append({"loc": "archive", "msg": f"{info.filename!r}: encrypted member"})
        elif (
            info.file_size > lim.max_ratio * max(info.compress_size, 1) and info.file_size > 1 << 20
        ):
            raise _bomb(f"member {info.filename!r} compression ratio over {lim.max_ratio:g}:1")
        out.append(Member(_join(prefix, info.filename), info.filename, info.file_size))
    if bad:
        raise InvalidInput.fields(bad, message="archive members refused")
    return out


def _tar_members(fileobj: BinaryIO, prefix: str, size: int, lim: ArchiveLimits) -> list[Member]:
    out: list[Member] = []
    bad: list[dict[str, str]] = []
    total = 0
    # Stop scanning as soon as a limit is crossed: walking a gzip bomb's headers means
    # decompressing it, so the limits must cut the walk short, not only judge it at the end.
    cap = min(lim.max_expanded_bytes, max(lim.max_ratio * max(size, 1), 1 << 20))
    try:
        with tarfile.open(fileobj=fileobj, mode="r:*") as tf:
            for ti in tf:
                total += ti.size
                if total > cap or len(out) >= lim.max_members:
                    raise _bomb(f"expands beyond {int(cap)} bytes or {lim.max_members} members")
                if ti.isdir():
                    continue
                if not ti.isreg():
                    bad.append({"loc": "archive", "msg": f"{ti.name!r}: links/devices are refused"})
                    continue
                out.append(Member(_join(prefix, ti.name), ti.name, ti.size))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInput(f"corrupt tar archive: {exc}", code="bad_archive") from exc
    if bad:
        raise InvalidInput.fields(bad, message="archive members refused")
    return out


@contextmanager
def open_members(fileobj: BinaryIO) -> Iterator[Callable[[str], IO[bytes]]]:
    """Yield `open(name)` for the members of an already inspected archive."""
    fileobj.seek(0)
    kind = sniff(fileobj.read(512))
    fileobj.seek(0)
    if kind == "zip":
        with zipfile.ZipFile(fileobj) as zf:
            yield lambda name: zf.open(name)
        return
    with tarfile.open(fileobj=fileobj, mode="r:*") as tf:

        def open_tar(name: str) -> IO[bytes]:
            f = tf.extractfile(name)
            if f is None:
                raise InvalidInput(f"archive member {name!r} is not a file", code="bad_archive")
            return f

        yield open_tar
