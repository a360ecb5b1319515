"""Threads for concurrency tests whose failures fail the test: `CheckedThread` keeps its target's
exception and `join` re-raises it (or fails when the thread is still running); `running` joins a group."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


class CheckedThread(threading.Thread):
    """A Thread whose `join` raises the target's exception, or AssertionError on a timeout."""

    error: BaseException | None = None

    def run(self) -> None:
        try:
            super().run()
        except BaseException as exc:  # kept for join: raised in the test's own thread
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.is_alive():
            raise AssertionError(f"thread {self.name} still running after {timeout}s")
        if self.error is not None:
            raise self.error


def join_all(threads: Sequence[CheckedThread], timeout: float | None = 60) -> None:
    """Join every thread (none is left behind), then raise the first failure."""
    failures: list[BaseException] = []
    for t in threads:
        try:
            t.join(timeout)
        except BaseException as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


def run_all(threads: Sequence[CheckedThread], timeout: float | None = 60) -> None:
    """Start the threads together and join them all, raising the first failure."""
    with running(threads, timeout):
        pass


@contextmanager
def running(
    threads: Sequence[CheckedThread], timeout: float | None = 60
) -> Iterator[Sequence[CheckedThread]]:
    """Start the threads, run the block, join them all and raise the first failure."""
    for t in threads:
        t.start()
    try:
        yield threads
    finally:
        join_all(threads, timeout)
