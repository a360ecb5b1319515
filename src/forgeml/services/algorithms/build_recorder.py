"""Records a running environment build in the database (`db/build_logs.py`), so the API of every
process can show its lines and phase: lines are batched and written by a flusher thread.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from types import TracebackType

import structlog

from forgeml.db import build_logs as q
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.domain.build_progress import (
    MAX_BUILD_LOG_LINES,
    BuildPhase,
    advance,
    installed_count,
    kept_line,
)

log = structlog.get_logger("forgeml.algorithms")
FLUSH_S = 0.5  # how stale a follower's view may be; one small write transaction per period
FINAL_TRIES = 3  # the last flush waits out a short outage (1 s, then 2 s)


class BuildRecorder:
    """A `training.environments.BuildObserver` for one version's build.

    The build must never fail because of its log: a write that fails (a database outage) keeps
    its lines for the next flush and is logged. Use it as a context manager around the build:
    the outcome (done, failed) is written with the last lines when the context ends, so a
    follower that sees it has every line.
    """

    def __init__(self, db: Database, version_id: str, flush_s: float = FLUSH_S) -> None:
        self.db = db
        self.version_id = version_id
        self.flush_s = flush_s
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one flush at a time: batches land in their order
        self._pending: list[tuple[datetime, BuildPhase, str]] = []
        self._phase = BuildPhase.CREATING
        self._outcome: BuildPhase | None = None  # done or failed: written by the last flush
        self._installed = 0
        self._started = False
        self._dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- BuildObserver -------------------------------------------------------------------

    def phase(self, phase: BuildPhase) -> None:
        if phase is BuildPhase.CREATING:
            self._start()
            return
        with self._lock:
            if phase.finished:
                self._outcome = phase
            else:
                self._phase = phase
            self._dirty = True

    def line(self, text: str) -> None:
        if not self._started:
            return
        with self._lock:
            for part in text.splitlines():
                self._phase = advance(self._phase, part)
                if (count := installed_count(part)) is not None:
                    self._installed = count
                shown = self._outcome or self._phase
                self._pending.append((utcnow(), shown, kept_line(part)))
            self._dirty = True

    # --- lifetime ------------------------------------------------------------------------

    def __enter__(self) -> BuildRecorder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and self._outcome is None:
            self._outcome = BuildPhase.FAILED  # interrupted: no build runs any more
        self._finish()

    def _start(self) -> None:
        try:
            with self.db.write() as conn:
                q.start_build(conn, self.version_id, utcnow())
        except Exception as exc:  # unrecorded, the build still runs
            log.warning("build log not recorded", version_id=self.version_id, error=str(exc)[:200])
            return
        self._started = True
        self._thread = threading.Thread(
            target=self._flush_loop, name=f"build-log-{self.version_id}", daemon=True
        )
        self._thread.start()

    def _finish(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            self._thread = None
        for attempt in range(FINAL_TRIES):  # the outcome tells waiting jobs the build is over
            if not self._started or self.flush(final=True):
                return
            if attempt + 1 < FINAL_TRIES:
                time.sleep(attempt + 1)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()

    def flush(self, *, final: bool = False) -> bool:
        """Write what arrived since the last flush (the outcome only when `final`); False when
        the database refused it."""
        with self._writing:
            return self._flush(final)

    def _flush(self, final: bool) -> bool:
        with self._lock:
            if not self._dirty and not final:
                return True
            batch, self._pending = self._pending, []
            phase = (self._outcome if final else None) or self._phase
            installed, self._dirty = self._installed, False
        try:
            with self.db.write() as conn:
                q.append(
                    conn,
                    self.version_id,
                    batch,
                    phase=phase,
                    packages_installed=installed,
                    now=utcnow(),
                )
        except Exception as exc:
            with self._lock:  # back in front, for the next flush (the cap applies here too)
                self._pending[:0] = batch
                del self._pending[:-MAX_BUILD_LOG_LINES]
                self._dirty = True
            log.warning("build log flush failed", version_id=self.version_id, error=str(exc)[:200])
            return False
        return True
