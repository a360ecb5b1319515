"""The import rules of ARCHITECTURE.md that a refactoring could quietly break: the SDK installs and
imports without the server's modules, and `domain/` imports nothing else of ours."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "forgeml"


def forgeml_imports(package: str) -> dict[str, set[str]]:
    """Every `forgeml.*` module imported by each file of `package` (function-level imports too)."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(SRC))] = {n for n in names if n.startswith("forgeml.")}
    return found


def outside(package: str, allowed: tuple[str, ...]) -> dict[str, set[str]]:
    bad = {
        f: {m for m in mods if not m.startswith(allowed)}
        for f, mods in forgeml_imports(package).items()
    }
    return {f: mods for f, mods in bad.items() if mods}


def test_the_sdk_imports_only_itself_and_the_domain() -> None:
    assert forgeml_imports("client")  # the walk saw the package
    assert outside("client", ("forgeml.client", "forgeml.domain")) == {}


def test_the_domain_imports_nothing_else_of_ours() -> None:
    assert outside("domain", ("forgeml.domain",)) == {}


def test_the_sdk_works_with_the_server_modules_missing() -> None:
    """Import the SDK in a fresh interpreter where every server package fails to import."""
    blocked = ["api", "db", "services", "training", "queue", "executors", "workers", "web"]
    code = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[:2] in [["forgeml", b] for b in {blocked!r}]:
            raise ImportError("server module " + name)
        return None
sys.meta_path.insert(0, Block())
from forgeml.client import Client, Estimator
from forgeml.client.packing import pack_folder
print("ok", Client.__name__, Estimator.__name__, pack_folder.__name__)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "Client", "Estimator", "pack_folder"]


def test_transports_never_import_the_database_layer() -> None:
    """The API, the portal and the edge they share go through services; the CLI's user verbs go
    through the SDK. Only `forgeml migrate` (in cli/server.py) opens the database itself."""
    for package in ("api", "web", "edge"):
        assert {f: m for f, m in forgeml_imports(package).items() if _db(m)} == {}, package
    cli = {f: m for f, m in forgeml_imports("cli").items() if _db(m)}
    assert set(cli) <= {"cli/server.py"}, cli


def _db(modules: set[str]) -> set[str]:
    return {m for m in modules if m == "forgeml.db" or m.startswith("forgeml.db.")}


# Building or running SQL: what only db/ and queue/ may do.
SQL_CALLS = {"select", "insert", "update", "delete", "text", "execute"}


def sql_calls(package: str) -> dict[str, list[str]]:
    """`sa.select(...)`, `table.insert()`, `conn.execute(...)` and the like, per file of `package`."""
    found: dict[str, list[str]] = {}
    for path in sorted((SRC / package).rglob("*.py")):
        hits = [
            f"{node.lineno}: .{node.func.attr}()"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_CALLS
            # dict.update(), set.update(), str.text... : only SQL-looking receivers count
            and _sql_receiver(node.func.value)
        ]
        if hits:
            found[str(path.relative_to(SRC))] = hits
    return found


def _sql_receiver(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return name in {"sa", "conn", "connection"} or name.endswith(("_jobs", "_attempts", "_logs"))


def test_services_run_no_sql_of_their_own() -> None:
    # Every service reads and writes through db/ query functions (ARCHITECTURE.md).
    assert sql_calls("db")  # the scan recognises SQL where it is
    assert sql_calls("services") == {}
