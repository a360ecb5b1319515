"""The shutdown drain's flags and the wake-up of event streams waiting in `Drain.sleep`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from forgeml.edge.drain import Drain, reconnect_hint
from tests.support.threads import CheckedThread


def test_close_wakes_a_stream_sleeping_in_any_thread_loop() -> None:
    drain = Drain()
    assert not drain.draining and not drain.closing
    drain.begin()
    assert drain.draining and not drain.closing
    asleep = threading.Event()
    woke: list[bool] = []

    async def stream() -> None:
        asleep.set()
        woke.append(await drain.sleep(3600))  # an hour: only close() ends it in this test

    t = CheckedThread(target=lambda: asyncio.run(stream()))
    t.start()
    assert asleep.wait(10)
    while not drain._waiters:  # the sleeper registered itself
        threading.Event().wait(0.01)
    drain.close()
    t.join(10)  # raises when the stream failed or is still asleep
    assert woke == [True]


def run_in_own_loop(coro: Coroutine[Any, Any, bool]) -> bool:
    """asyncio.run in a thread of its own: the browser tests' sync Playwright leaves an event
    loop running in this process's main thread, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=30)


def test_sleep_after_close_returns_at_once_and_the_hint_keeps_the_sse_shape() -> None:
    drain = Drain()
    assert run_in_own_loop(drain.sleep(0)) is False
    drain.close()
    assert drain.draining and run_in_own_loop(drain.sleep(3600)) is True
    hint = reconnect_hint()
    assert hint.startswith("retry: ") and hint.endswith("\n\n") and "\ndata:" not in hint
