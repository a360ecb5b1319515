"""What tenants read of a program's output: host paths become their /opt/ml or neutral names in
every mode; `redacted` also cuts the algorithm's traceback frames to `File "<algorithm>", line N`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from forgeml.training.contract import SANDBOX_ROOT, HostLayout
from forgeml.training.sandbox import python_roots
from forgeml.training.spec import HostSpec

VENV_ROOT = "/opt/venv"  # the algorithm's virtualenv, as logs name it
PYTHON_ROOT = "/opt/python"  # the base interpreter the venv points at
ALGORITHM_FRAME = '"<algorithm>"'
# Frames under these (after neutralising) are library code anyone may read; all others are the
# algorithm's own code, whatever path it ran from.
LIBRARY_ROOTS = (f"{VENV_ROOT}/", f"{PYTHON_ROOT}/", "/usr/", "<frozen ")
_FRAME = re.compile(r'(?P<indent>[ \t]*)File "(?P<path>[^"]*)", line (?P<line>\d+)')
# Redacted: any other mention of a file of the code (the toolkit's `Command "…"`, a print).
_CODE_PATH = re.compile(re.escape(SANDBOX_ROOT) + r"/code(/[^\s\"':,;)\]]*)?")


def host_paths(spec: HostSpec, layout: HostLayout) -> list[tuple[str, str]]:
    """(host path, shown path) pairs of this host: its tree, code, channels, home, interpreter."""
    ml = SANDBOX_ROOT
    pairs: list[tuple[Path, str]] = [
        (layout.private_dir / "home", "/tmp"),  # noqa: S108 - the name HOME has in the jail
        (layout.private_dir, f"{ml}/.private"),
        (layout.artifacts_dir, f"{ml}/.artifacts"),
        (layout.root, ml),
        (spec.code_dir, f"{ml}/code"),
    ]
    pairs += [(ch.source, f"{ml}/input/data/{name}") for name, ch in spec.channels.items()]
    venv = spec.python.parent.parent
    pairs.append((venv, VENV_ROOT))
    pairs += [(root, PYTHON_ROOT) for root in python_roots(spec.python) if root != venv.resolve()]
    out: dict[str, str] = {}
    for host, shown in pairs:
        for form in {str(host), str(host.resolve())}:
            if form not in ("/", ""):
                out.setdefault(form, shown)
    # Longest first, so a folder inside another is replaced by its own name.
    return sorted(out.items(), key=lambda kv: -len(kv[0]))


class LogFilter:
    """One output stream's filter: call it per line; None means the line is withheld."""

    def __init__(self, paths: Iterable[tuple[str, str]], *, redacted: bool) -> None:
        self.paths = list(paths)
        self.redacted = redacted
        self._frame_indent: int | None = None  # inside an algorithm frame: drop its source

    def neutral(self, text: str) -> str:
        for host, shown in self.paths:
            if host in text:
                text = text.replace(host, shown)
        return text

    def __call__(self, text: str) -> str | None:
        text = self.neutral(text)
        if not self.redacted:
            return text
        indent = len(text) - len(text.lstrip(" \t"))
        if self._frame_indent is not None:
            if text.strip() and indent > self._frame_indent:
                return None  # the frame's source line, or its ^^^ markers
            self._frame_indent = None
        m = _FRAME.match(text)
        if m and not m["path"].startswith(LIBRARY_ROOTS):
            self._frame_indent = len(m["indent"])
            return f"{m['indent']}File {ALGORITHM_FRAME}, line {m['line']}"
        return _CODE_PATH.sub("<algorithm>", text)

    def text(self, block: str) -> str:
        """Filter a multi-line text (a failure file) with a fresh frame state."""
        self._frame_indent = None
        kept = [line for line in map(self, block.splitlines()) if line is not None]
        self._frame_indent = None
        return "\n".join(kept)
