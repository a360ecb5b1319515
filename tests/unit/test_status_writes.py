"""Every status write of a job goes through queue/transitions.py (the one orchestration point).

Reads the source of `src/forgeml`: in any module that touches the job tables (or inserts jobs),
a `status`/`secondary_status` keyword of `.values(...)` or key of a dict literal is a write.
"""

from __future__ import annotations

import ast
from pathlib import Path

import forgeml

SRC = Path(forgeml.__file__).parent
ALLOWED = {SRC / "queue" / "transitions.py"}
# Names through which a module can write the jobs, attempts or transitions tables.
JOB_TABLES = {"training_jobs", "job_attempts", "job_transitions", "insert_job"}
STATUS_KEYS = {"status", "secondary_status"}


def _names(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name.rsplit(".", 1)[-1])
    return found


def status_writes(tree: ast.AST) -> list[int]:
    """Lines that write a status: `.values(status=...)` or `{"secondary_status": ...}`."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "values" and any(k.arg in STATUS_KEYS for k in node.keywords):
                lines.append(node.lineno)
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if isinstance(key, ast.Constant) and key.value in STATUS_KEYS:
                    lines.append(key.lineno)
    return sorted(lines)


def offenders(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if path in ALLOWED or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        if not _names(tree) & JOB_TABLES:
            continue
        found += [f"{path.relative_to(root.parent)}:{line}" for line in status_writes(tree)]
    return found


def test_every_job_status_write_goes_through_queue_transitions() -> None:
    found = offenders(SRC)
    assert found == [], "job status written outside queue/transitions.py: " + ", ".join(found)


def test_the_check_finds_a_direct_status_write(tmp_path: Path) -> None:
    """The scan itself works: both spellings of a direct write are reported with their line."""
    pkg = tmp_path / "forgeml"
    pkg.mkdir()
    (pkg / "bad.py").write_text(
        "from forgeml.db.jobs import training_jobs\n"
        "def f(conn):\n"
        "    conn.execute(training_jobs.update().values(status='Failed'))\n"
        "    return {'secondary_status': 'Failed'}\n",
        encoding="utf-8",
    )
    (pkg / "harmless.py").write_text("def g():\n    return {'status': 'ok'}\n", encoding="utf-8")
    assert offenders(pkg) == ["forgeml/bad.py:3", "forgeml/bad.py:4"]
