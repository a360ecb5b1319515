"""`forgeml demo`: seeds the seed's story through the public API (as any admin script would).

The owner registers the example algorithms and a protected platform dataset granted to a demo
tenant; the demo tenant uploads its own part. Safe to run again: existing objects are reused.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import forgeml
from forgeml.client import ApiError, Client
from forgeml.demo import data

DEMO_TENANT = "demo"
DEMO_EMAIL = "demo@forgeml.local"
EXAMPLES = ("digits-classifier", "tabular-classifier")
# platform part -> (algorithm it is granted for, tenant datasets: part name -> dataset name)
STORIES = {
    "digits": ("digits-classifier", {"tenant": "digits-mine", "validation": "digits-validation"}),
    "wine": ("tabular-classifier", {"tenant": "wine-mine", "validation": "wine-validation"}),
}


@dataclass
class DemoResult:
    tenant_id: str
    email: str
    password: str
    algorithms: dict[str, str] = field(default_factory=dict)  # name -> version id
    platform_datasets: dict[str, str] = field(default_factory=dict)  # name -> id
    tenant_datasets: dict[str, str] = field(default_factory=dict)  # name -> id


def default_examples() -> Path:
    return Path(forgeml.__file__).resolve().parents[2] / "examples" / "algorithms"


def _quiet(step: str) -> None:
    pass


def seed(
    admin: Client,
    *,
    examples: Path | None = None,
    build: bool = True,
    say: Callable[[str], None] = _quiet,
) -> DemoResult:
    """Seed (or reuse) everything; `say` hears each step as it starts."""
    examples = examples or default_examples()
    say(f"tenant {DEMO_TENANT} and its user {DEMO_EMAIL}")
    tenant = _tenant(admin)
    password = secrets.token_urlsafe(12)
    user = _user(admin, tenant["id"], password)
    result = DemoResult(tenant_id=tenant["id"], email=user["email"], password=password)
    for name in EXAMPLES:
        say(f"registering algorithm {name} (its environment builds in the background)")
        result.algorithms[name] = _register(admin, examples / name, build)
    token = admin.tokens.create("demo-seed", user_id=user["id"], expires_in_days=1)
    with Client(admin.url, token["token"]) as member, tempfile.TemporaryDirectory() as tmp:
        for story, (algorithm, mine) in STORIES.items():
            parts = _parts(story, Path(tmp))
            say(f"platform dataset {story}-platform, granted to {DEMO_TENANT} for {algorithm}")
            pid = _dataset(admin, f"{story}-platform", "platform", parts["platform"])
            result.platform_datasets[f"{story}-platform"] = pid
            _grant(admin, pid, tenant["id"], algorithm)
            for part, ds_name in mine.items():
                say(f"tenant dataset {ds_name}")
                result.tenant_datasets[ds_name] = _dataset(member, ds_name, "tenant", parts[part])
        admin.tokens.revoke(token["id"])
    return result


def _parts(story: str, tmp: Path) -> dict[str, Path]:
    writer = data.write_digits_parts if story == "digits" else data.write_wine_parts
    return {part: path.parent for part, path in writer(tmp / story).items()}


def _tenant(admin: Client) -> dict[str, Any]:
    for t in admin.tenants.list():
        if t["name"] == DEMO_TENANT:
            return t
    return admin.tenants.create(DEMO_TENANT, "Demo Customer Inc.")


def _user(admin: Client, tenant_id: str, password: str) -> dict[str, Any]:
    for u in admin.users.list(tenant_id=tenant_id):
        if u["email"] == DEMO_EMAIL:
            # a re-run prints a password that works: reset it
            return admin.users.update(u["id"], password=password)
    return admin.users.create(
        DEMO_EMAIL, role="tenant-admin", name="Demo User", password=password, tenant_id=tenant_id
    )


def _register(admin: Client, folder: Path, build: bool) -> str:
    try:
        version: dict[str, Any] = admin.algorithms.register(folder, build=build, wait=False)
        return str(version["id"])
    except ApiError as exc:
        if exc.status != 409:
            raise
    name = folder.name
    for alg in admin.algorithms.list(name=name):
        if alg["name"] == name and alg.get("versions"):
            return str(alg["versions"][-1]["id"])
    raise ApiError(409, "conflict", f"algorithm {name} exists but has no versions")


def _dataset(client: Client, name: str, kind: str, folder: Path) -> str:
    try:
        ds = client.datasets.find(name, kind=kind)
    except ApiError as exc:
        if exc.status != 404:
            raise
        ds = client.datasets.create(name, kind=kind, description=f"demo {kind} data")
    if not client.datasets.versions(ds["id"]):
        client.datasets.upload(ds["id"], [folder])
    return str(ds["id"])


def _grant(admin: Client, dataset_id: str, tenant_id: str, algorithm: str) -> None:
    if not admin.grants.list(dataset_id=dataset_id, tenant_id=tenant_id):
        admin.grants.create(dataset_id, tenant_id, algorithms=[algorithm])


def cli_name() -> str:
    """How to type this CLI: `forgeml` when that is on PATH, else its full path (a venv)."""
    ours = Path(sys.executable).parent / "forgeml"
    found = shutil.which("forgeml")
    return "forgeml" if found and Path(found).resolve() == ours.resolve() else str(ours)


def next_steps(url: str, r: DemoResult) -> list[str]:
    cli = cli_name()
    return [
        f"Portal: {url}/  sign in as {r.email} / {r.password}",
        "Or from the command line, as the demo tenant:",
        f"  {cli} login --url {url} --email {r.email}",
        f"  {cli} job submit digits-demo -a digits-classifier:1.0.0 -i train=digits-mine "
        "-i platform=digits-platform -i validation=digits-validation --hp epochs=3 --wait",
        f"  {cli} model download digits-demo",
    ]
