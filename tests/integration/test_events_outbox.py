"""The outbox: events commit or roll back with their cause, in order, scoped by tenant."""

from __future__ import annotations

import pytest

from forgeml.db import events as ev
from forgeml.db.engine import Database
from forgeml.db.scope import Scope
from tests.support.threads import CheckedThread, run_all


def test_events_roll_back_with_their_transaction(database: Database) -> None:
    with database.write() as conn:
        ev.emit(conn, "x.kept", tenant_id="tnt_a", data={"n": 1})

    def failing_change() -> None:
        with database.write() as conn:
            ev.emit(conn, "x.lost", tenant_id="tnt_a", data={})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    with database.read() as conn:
        assert [e.type for e in ev.after(conn, Scope.everything(), 0)] == ["x.kept"]


def test_seq_is_strictly_increasing_under_concurrent_writers(database: Database) -> None:
    def write(n: int) -> None:
        for i in range(10):
            with database.write() as conn:
                ev.emit(conn, "x.n", tenant_id="tnt_a" if n % 2 else "tnt_b", data={"w": n, "i": i})

    run_all([CheckedThread(target=write, args=(n,)) for n in range(4)])
    with database.read() as conn:
        seqs = [e.seq for e in ev.after(conn, Scope.everything(), 0)]
        only_a = ev.after(conn, Scope("tnt_a"), 0)
    assert seqs == sorted(seqs) and len(set(seqs)) == 40
    assert len(only_a) == 20 and {e.tenant_id for e in only_a} == {"tnt_a"}
    with database.read() as conn:
        assert [e.seq for e in ev.after(conn, Scope.everything(), seqs[29])] == seqs[30:]
