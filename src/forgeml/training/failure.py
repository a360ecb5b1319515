"""The output/failure and output/success files: reading the program's, writing the toolkit's.

The text is `errors.ExecuteUserScriptError` of sagemaker-training; tests/conformance checks it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
from collections import deque
from pathlib import Path

FAILURE_CHARS = 1024  # SageMaker's FailureReason is the first 1024 characters of the file
STDERR_LINES = 100  # the tail of stderr kept for the message
_OOM_INFO = "OutOfMemory: Process killed by SIGKILL (signal 9)"  # the toolkit's text for 137


def script_error(code: int, message: str, cmd: str, extra_info: str | None = None) -> str:
    """The toolkit's `str(ExecuteUserScriptError(cmd, code, message, extra_info))`."""
    lines = ["ExecuteUserScriptError:", f"ExitCode {code}", f'ErrorMessage "{message}"']
    if extra_info is not None:
        lines.append(f'ExtraInfo "{extra_info}"')
    lines.append(f'Command "{cmd}"')
    return "\n".join(lines)


class StderrTail:
    """The last lines of the program's stderr, for the failure message."""

    def __init__(self, lines: int = STDERR_LINES) -> None:
        self._lines: deque[str] = deque(maxlen=lines)

    def add(self, line: str) -> None:
        self._lines.append(line)

    def message(self, budget: int) -> str:
        """The latest lines (duplicates dropped, like the toolkit) that fit in `budget` chars."""
        kept: list[str] = []
        used = 0
        for line in reversed(list(dict.fromkeys(s.strip() for s in self._lines if s.strip()))):
            if used + len(line) + 1 > budget:
                if not kept:  # one huge line: keep its end, where the error is
                    kept.append(line[len(line) - budget :] if budget > 0 else "")
                break
            kept.append(line)
            used += len(line) + 1
        return "\n".join(reversed(kept))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_info(code: int, *, sandboxed: bool) -> str | None:
    """ExtraInfo for exits the code alone does not explain (signal deaths)."""
    if code == 137:
        return _OOM_INFO
    if code < 0:
        return f"the program was killed by {_signal_name(-code)}"
    if sandboxed and code > 128:
        # bwrap reports a signal death of the program as 128 + the signal number.
        return f"exit code {code}: probably killed by {_signal_name(code - 128)}"
    return None


def failure_text(code: int, tail: StderrTail, argv: list[str], *, sandboxed: bool) -> str:
    """The failure text of a program that exited non-zero without writing output/failure."""
    cmd = shlex.join(argv)
    info = exit_info(code, sandboxed=sandboxed)
    frame = script_error(code, "", cmd, info)
    text = script_error(code, tail.message(FAILURE_CHARS - len(frame)), cmd, info)
    return text[:FAILURE_CHARS]


def read_failure(path: Path, chars: int = FAILURE_CHARS) -> str | None:
    """First `chars` characters of output/failure, when the program wrote a regular file there."""
    if path.is_symlink() or not path.is_file():
        return None
    with path.open("rb") as handle:
        text = handle.read(chars * 4).decode("utf-8", "replace")
    return text[:chars].strip() or None


def write_once(path: Path, text: str) -> bool:
    """Create `path` with `text` unless something is there; never follows a link the program made.

    The folder is opened without following links too, so a program cannot redirect the write.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fd = os.open(path.name, flags, 0o644, dir_fd=folder)
    except OSError:  # it exists (the program's own file is kept), or the folder is not ours
        return False
    finally:
        os.close(folder)
    with contextlib.closing(os.fdopen(fd, "w", encoding="utf-8")) as handle:
        handle.write(text)
    return True
