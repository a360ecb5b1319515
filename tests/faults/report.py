"""The fault table: each scenario records a row (lost / duplicated / partial, 5xx seen, recovery
seconds); the run prints the table and writes it as JSON to `$FORGEML_TEST_FAULT_REPORT` when set.

Rows travel through a JSON-lines file named by `FORGEML_TEST_FAULT_ROWS`, set by the controlling
process before xdist starts its workers (they inherit it), so one table covers every worker.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROWS_ENV = "FORGEML_TEST_FAULT_ROWS"
_created: list[str] = []  # the rows file this process made (and removes at the end)
COLUMNS = ("scenario", "lost", "duplicated", "partial", "5xx", "recovery_s", "note")


def record(
    scenario: str,
    *,
    lost: int,
    duplicated: int,
    partial: int,
    errors: Counter[int],
    recovery_s: float | None,
    note: str = "",
) -> None:
    """Append one scenario's figures (called before the scenario asserts, so failures show too)."""
    row = {
        "scenario": scenario,
        "lost": lost,
        "duplicated": duplicated,
        "partial": partial,
        "5xx": {str(k): v for k, v in sorted(errors.items())},
        "recovery_s": None if recovery_s is None else round(recovery_s, 1),
        "note": note,
    }
    path = os.environ.get(ROWS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:  # one short write per row: no interleaving
            f.write(json.dumps(row) + "\n")


def rows() -> list[dict[str, Any]]:
    path = os.environ.get(ROWS_ENV)
    if not path or not Path(path).exists():
        return []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return sorted((json.loads(x) for x in lines if x.strip()), key=lambda r: str(r["scenario"]))


def markdown(table: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], col: str) -> str:
        value = row[col]
        if col == "5xx":
            return ", ".join(f"{n}x {code}" for code, n in value.items()) or "0"
        return "-" if value is None else str(value)

    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(cell(r, c) for c in COLUMNS) + " |" for r in table]
    return "\n".join(out)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or os.environ.get(ROWS_ENV):
        return  # an xdist worker: the controller already chose the file
    fd, path = tempfile.mkstemp(prefix="forgeml-fault-rows-", suffix=".jsonl")
    os.close(fd)
    os.environ[ROWS_ENV] = path
    _created.append(path)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    table = rows()
    if not table:
        return
    terminalreporter.write_sep("=", "fault-injection table (tests/faults)")
    terminalreporter.write_line(markdown(table))
    target = os.environ.get("FORGEML_TEST_FAULT_REPORT")
    if target:
        Path(target).write_text(
            json.dumps({"rows": table, "markdown": markdown(table)}, indent=2), encoding="utf-8"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _created:
        Path(path).unlink(missing_ok=True)
