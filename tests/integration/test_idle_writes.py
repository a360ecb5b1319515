"""An idle server's loops read; they open no write transaction and write nothing but the
runner's liveness heartbeat (issue 15: polling write transactions cost every writer on SQLite)."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from sqlalchemy import event

from forgeml.db import dispatch as dq
from forgeml.db.events import emit
from forgeml.main import build_loops
from forgeml.services.container import Services
from forgeml.workers.base import Supervisor

IDLE_S = 10.0
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|BEGIN IMMEDIATE)\b|FOR UPDATE", re.I)
# A runner says it is alive once per reconcile period: a liveness record, not a poll.
HEARTBEAT = re.compile(r"^\s*UPDATE runners SET heartbeat_at", re.I)


def cursor_seq(services: Services) -> int:
    with services.db.read() as conn:
        seq = conn.execute(
            dq.dispatch_cursors.select().where(dq.dispatch_cursors.c.name == "notifications")
        ).first()
    return 0 if seq is None else int(seq.seq)


def test_an_idle_server_issues_no_write_transaction(services: Services) -> None:
    seen: Counter[str] = Counter()
    statements = Counter[str]()

    def count(_c: Any, _cur: Any, statement: str, *_args: Any) -> None:
        statements[statement.split(None, 1)[0].upper()] += 1
        if WRITE.search(statement):
            seen[" ".join(statement.split())[:90]] += 1

    with services.db.write() as conn:
        ev = emit(conn, "test.idle", tenant_id=None, data={})
    sup = Supervisor(build_loops(services))
    sup.start()
    try:
        deadline = time.monotonic() + 30
        while cursor_seq(services) < ev.seq and time.monotonic() < deadline:
            time.sleep(0.1)  # the dispatcher still fans out what arrives
        assert cursor_seq(services) == ev.seq
        time.sleep(1.0)  # the runner has registered; every loop has gone idle
        event.listen(services.db.engine, "before_cursor_execute", count)
        time.sleep(IDLE_S)
        event.remove(services.db.engine, "before_cursor_execute", count)
    finally:
        sup.stop()
        services.job_runs.shutdown(10)
    assert statements["SELECT"] > 0  # the loops did poll, with reads
    beats = sum(n for s, n in seen.items() if HEARTBEAT.search(s))
    assert beats <= 2  # about one per reconcile period (10 s)
    polls = {s: n for s, n in seen.items() if not HEARTBEAT.search(s)}
    # SQLite: the heartbeat's own transaction is the one BEGIN IMMEDIATE allowed per beat
    assert polls.pop("BEGIN IMMEDIATE", 0) <= beats
    assert polls == {}, polls
    print(f"idle {IDLE_S:g} s: {dict(statements)}; writes: {dict(seen)}")
