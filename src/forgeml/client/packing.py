"""Pack an algorithm folder into a reproducible bundle (`.tar.gz`) and digest files, client side.

The SDK and the CLI pack here; the server inspects and extracts in `training/bundle.py`. The
same content always gives the same digest, so re-registering an unchanged folder is a no-op.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from forgeml.domain.algorithms import MANIFEST_NAME
from forgeml.domain.errors import InvalidInput

_CHUNK = 1 << 20
_SKIP_DIRS = frozenset({"__pycache__", ".git"})
_SKIP_SUFFIXES = (".pyc",)


def _refused(msg: str) -> InvalidInput:
    return InvalidInput.fields([{"loc": "bundle", "msg": msg}])


def pack_folder(folder: Path | str, *, out: Path | None = None) -> tuple[Path, str]:
    """Pack `folder` into `out` (default: a new temp file for the caller); return (path, digest).

    The same content always gives the same digest: sorted entries, owner/mtime zeroed, modes
    normalised to 0644/0755, gzip header without name or time.
    """
    root = Path(folder)
    entries = list(_walk(root, ""))
    if (MANIFEST_NAME, False) not in ((name, is_dir) for name, is_dir in entries):
        raise _refused(f"{root} has no {MANIFEST_NAME} at its root")
    if out is None:
        handle, name = tempfile.mkstemp(prefix="forgeml-bundle-", suffix=".tar.gz")
        os.close(handle)
        out = Path(name)
    with (
        out.open("wb") as raw,
        gzip.GzipFile("", "wb", 9, raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, is_dir in entries:
            _add(tar, root / name, name, is_dir)
    return out, file_digest(out)


def _walk(root: Path, prefix: str) -> Iterator[tuple[str, bool]]:
    """Yield (relative name, is_dir) in sorted order; refuse links and special files."""
    for entry in sorted(os.scandir(root / prefix if prefix else root), key=lambda e: e.name):
        name = f"{prefix}{entry.name}"
        if entry.is_symlink():
            raise _refused(f"{name} is a symbolic link; bundles cannot contain links")
        if entry.is_dir():
            if entry.name not in _SKIP_DIRS:
                yield name, True
                yield from _walk(root, f"{name}/")
        elif entry.is_file():
            if not entry.name.endswith(_SKIP_SUFFIXES):
                yield name, False
        else:
            raise _refused(f"{name} is not a regular file or directory")


def _add(tar: tarfile.TarFile, path: Path, name: str, is_dir: bool) -> None:
    info = tarfile.TarInfo(name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    executable = is_dir or bool(path.stat().st_mode & 0o111)
    info.mode = 0o755 if executable else 0o644
    if is_dir:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        return
    info.size = path.stat().st_size
    with path.open("rb") as data:
        tar.addfile(info, data)


def file_digest(path: Path) -> str:
    """`sha256:<hex>` of a file's bytes."""
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
    return f"sha256:{sha.hexdigest()}"
