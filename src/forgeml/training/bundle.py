"""Algorithm bundles: a folder with `forgeml.yaml` at its root, packed as a deterministic tar.gz.

Inspection streams the archive once (digest, limits, manifest) and never writes to disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from forgeml.domain.algorithms import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    AlgorithmManifest,
    EntryKind,
    parse_manifest,
    relative_path_problem,
)
from forgeml.domain.errors import InvalidInput

DEFAULT_MAX_BYTES = 1024**3  # vendored wheels (torch is ~200 MB) must fit
DEFAULT_MAX_MEMBERS = 20_000
UNPACK_RATIO = 8  # unpacked bytes allowed per packed byte unless told otherwise (gzip bombs)
_MAX_PROBLEMS = 50
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BundleInfo:
    """What inspection learnt: the manifest, `sha256:<hex>` of the archive bytes, size, files."""

    manifest: AlgorithmManifest
    digest: str
    size: int
    files: tuple[str, ...]


def _bundle_error(msg: str, loc: str = "bundle") -> InvalidInput:
    return InvalidInput.fields([{"loc": loc, "msg": msg}])


# --- streaming inspection and extraction ---------------------------------------------------------


class _HashingReader:
    """Read-only wrapper that hashes and counts the bytes passing through, up to a limit."""

    def __init__(self, raw: BinaryIO, limit: int):
        self._raw, self._limit = raw, limit
        self._sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0:  # never slurp an unbounded stream: one byte over the limit is enough to know
            n = self._limit + 1 - self.size
        data = self._raw.read(n)
        self.size += len(data)
        if self.size > self._limit:
            raise _bundle_error(f"bundle is larger than the limit of {self._limit} bytes")
        self._sha.update(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return f"sha256:{self._sha.hexdigest()}"


class _Scan:
    """Per-member checks: limits fail fast; name and type problems are collected."""

    def __init__(self, max_members: int, max_unpacked: int):
        self.max_members, self.max_unpacked = max_members, max_unpacked
        self.count = self.unpacked = 0
        self.files: dict[str, int] = {}  # name -> mode
        self.dirs: set[str] = set()
        self.problems: list[dict[str, str]] = []

    def admit(self, member: tarfile.TarInfo) -> str | None:
        """The member's normalised name if it may be used, else None (root entry or a problem)."""
        self.count += 1
        if self.count > self.max_members:
            raise _bundle_error(f"bundle has more than {self.max_members} entries")
        self.unpacked += member.size
        if self.unpacked > self.max_unpacked:
            raise _bundle_error(f"bundle unpacks to more than {self.max_unpacked} bytes")
        name = member.name
        while name.startswith("./"):  # `tar -C dir .` writes ./-prefixed names and a "." entry
            name = name[2:]
        if name in ("", ".") and member.isdir():
            return None
        problem = relative_path_problem(name) or _type_problem(name, member) or self._clash(name)
        if problem:
            self.add_problem(problem)
            return None
        if member.isdir():
            self.dirs.add(name)
        else:
            self.files[name] = member.mode
        parts = name.split("/")
        self.dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        return name

    def _clash(self, name: str) -> str | None:
        # A second copy would be what extraction keeps while inspection read the first one.
        return f"{name!r} appears twice in the archive" if name in self.files else None

    def add_problem(self, msg: str, loc: str = "bundle") -> None:
        self.problems.append({"loc": loc, "msg": msg})
        if len(self.problems) >= _MAX_PROBLEMS:
            raise InvalidInput.fields(self.problems)

    def finish(self) -> None:
        for name in sorted(self.dirs & self.files.keys()):
            self.add_problem(f"{name!r} is both a file and a directory")


def _type_problem(name: str, member: tarfile.TarInfo) -> str | None:
    if member.isreg() or member.isdir():
        return None
    if member.issym() or member.islnk():
        return f"{name!r} is a link; bundles cannot contain symbolic or hard links"
    if member.isdev():
        return f"{name!r} is a device file or FIFO; only files and directories are allowed"
    return f"{name!r} has an unsupported entry type"


def _read_manifest(tar: tarfile.TarFile, member: tarfile.TarInfo, scan: _Scan) -> bytes | None:
    if member.size > MAX_MANIFEST_BYTES:
        scan.add_problem(f"is larger than {MAX_MANIFEST_BYTES // 1024} KiB", MANIFEST_NAME)
        return None
    data = tar.extractfile(member)
    return data.read() if data else None


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, dest: Path) -> None:
    member.name = name
    # A failure to write (disk full) is not the bundle's fault: keep it out of the archive
    # error handler by raising it as a plain RuntimeError.
    try:
        _extract_member(tar, member, dest)
    except OSError as exc:
        raise RuntimeError(f"extracting {name!r} into {dest} failed: {exc}") from exc


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):  # 3.11.4+: a second line of defence after our checks
        tar.extract(member, dest, filter="data")
    else:  # pragma: no cover - older 3.11 patch releases
        tar.extract(member, dest)


def _scan_stream(
    fileobj: BinaryIO, max_bytes: int, max_members: int, extract_to: Path | None
) -> BundleInfo:
    reader = _HashingReader(fileobj, max_bytes)
    scan = _Scan(max_members, max_bytes * UNPACK_RATIO)
    manifest_bytes: bytes | None = None
    try:
        with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
            for member in tar:
                name = scan.admit(member)
                if name is None:
                    continue
                if extract_to is not None and not scan.problems:
                    _extract(tar, member, name, extract_to)
                elif name == MANIFEST_NAME and member.isreg():
                    manifest_bytes = _read_manifest(tar, member, scan)
        reader.drain()
    except (tarfile.TarError, EOFError) as exc:  # I/O errors are ours, not the bundle's
        raise _bundle_error(f"not a readable tar.gz archive ({exc})") from None
    scan.finish()
    if extract_to is not None and MANIFEST_NAME in scan.files and not scan.problems:
        manifest_bytes = _read_manifest_file(extract_to / MANIFEST_NAME, scan)
    manifest = _check_manifest(manifest_bytes, scan)
    if scan.problems or manifest is None:
        raise InvalidInput.fields(scan.problems)
    return BundleInfo(manifest, reader.digest, reader.size, tuple(sorted(scan.files)))


def _read_manifest_file(path: Path, scan: _Scan) -> bytes | None:
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        scan.add_problem(f"is larger than {MAX_MANIFEST_BYTES // 1024} KiB", MANIFEST_NAME)
        return None
    return path.read_bytes()


def _check_manifest(data: bytes | None, scan: _Scan) -> AlgorithmManifest | None:
    """Parse the manifest and check that the files it names are in the bundle."""
    if data is None:
        if MANIFEST_NAME not in scan.files:
            scan.add_problem(f"bundle has no {MANIFEST_NAME} at its root")
        return None
    try:
        manifest = parse_manifest(data)
    except InvalidInput as exc:
        for problem in exc.details["errors"]:
            scan.add_problem(problem["msg"], problem["loc"])
        return None
    entry = manifest.entry
    if entry.kind is not EntryKind.MODULE:
        mode = scan.files.get(entry.target)
        if mode is None:
            scan.add_problem(f"{entry.target!r} is not in the bundle", "entry_point")
        elif entry.kind is EntryKind.EXECUTABLE and not mode & 0o111:
            scan.add_problem(f"{entry.target!r} is not executable (mode {mode:o})", "entry_point")
    if manifest.requirements and manifest.requirements not in scan.files:
        scan.add_problem(f"{manifest.requirements!r} is not in the bundle", "requirements")
    return manifest


def inspect_bundle(fileobj: BinaryIO, *, max_bytes: int, max_members: int) -> BundleInfo:
    """Validate a bundle read from `fileobj` in one streamed pass; never writes anything.

    Raise `InvalidInput` for a bad archive, unsafe or unsupported entries, exceeded limits, a
    missing or invalid manifest, or an entry point or requirements file missing from the bundle.
    """
    return _scan_stream(fileobj, max_bytes, max_members, extract_to=None)


def extract_bundle(
    source: BinaryIO | Path | str,
    dest: Path | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> BundleInfo:
    """Check and extract a bundle into the fresh directory `dest`, all or nothing.

    Extracts into a sibling temp directory and renames it into place; on any problem the temp
    directory is removed and `dest` never appears. `FileExistsError` if `dest` already exists.
    """
    target = Path(dest)
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with _open_source(source) as fileobj:
            info = _scan_stream(fileobj, max_bytes, max_members, extract_to=staging)
        # mkdtemp makes it 0700; jobs may run as another user and need to read the code.
        os.chmod(staging, 0o755)  # noqa: S103
        os.rename(staging, target)  # fails if another extractor won the race to a non-empty dest
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return info


def _open_source(source: BinaryIO | Path | str) -> contextlib.AbstractContextManager[BinaryIO]:
    if isinstance(source, str | Path):
        return Path(source).open("rb")
    return contextlib.nullcontext(source)
