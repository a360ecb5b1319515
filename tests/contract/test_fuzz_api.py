"""Schemathesis against a real `forgeml server` (PostgreSQL, public and admin listeners), every
check on: no server errors, no response the OpenAPI document does not describe, on either plane.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
import schemathesis.engine
from schemathesis.engine import Status, events

from tests.support.api_process import ApiProcess, api_process
from tests.support.db import private_pg_database

API = "/api/v1"
MAX_EXAMPLES = 5  # fuzzing-phase cases per operation; the whole module stays under 2 minutes
TIMEOUT_S = 30  # a hung request fails its case instead of the run

# Algorithm bundles are gzip'd tarballs: sent as bytes (the server refuses what is not one).
schemathesis.serializer.alias("application/gzip", "application/octet-stream")

# Schema-valid requests the server may refuse with 422, by operation and the field the error
# names (a regex on "METHOD /path loc"), each with its reason: rules no JSON schema states.
# Any other refusal of valid data is a failure.
ACCEPTED_422 = {
    r"GET .* cursor": "a page cursor is opaque and minted by the server; a made-up one is refused",
    r"POST /api/v1/training-jobs algorithm": "a job names an algorithm by id or name:version; "
    "one that does not exist or has no usable version is an error of the body, not the path",
    r"POST /api/v1/training-jobs stopping_condition\.max_wait_s": "a cross-field rule: "
    "max_wait_s >= max_runtime_s",
    r"POST /api/v1/webhooks url": "a webhook URL is resolved when it is saved (the SSRF "
    "guard) and no name resolves in the test sandbox",
    r"POST /api/v1/datasets/\{dataset_id\}/uploads files\.\d+\.path": "file paths follow "
    "the server's path rules (relative, no control characters, backslashes, '..' or '//', "
    "nothing that decodes to one), which list every bad path of a declaration with its "
    "reason; a schema pattern would stop at the first",
    r"POST /api/v1/checkpoint-locations name": "a location name may not start with the id "
    "prefix ckpt_ (a lookahead the schema's regex dialect cannot state)",
    # The admin plane's platform admin: rules that depend on who calls.
    r"(POST /api/v1/webhooks|GET /api/v1/datasets/usage) tenant_id": "a platform admin names "
    "the tenant (the field is optional for tenant principals)",
    r"POST /api/v1/(training-jobs|checkpoint-locations) tenant": "jobs and checkpoint "
    "locations belong to a tenant; a platform admin has none",
    r"POST /api/v1/datasets kind": "platform admins create platform datasets only",
    r"PATCH /api/v1/users/\{user_id\} role": "a user does not move between tenant and "
    "platform roles",
    r"POST /api/v1/users tenant_id": "tenant roles need a tenant, platform admins have none",
    r"POST /api/v1/admin/algorithms bundle": "a bundle must be a readable tar.gz holding a "
    "manifest; the schema can only say application/gzip",
    r"POST /api/v1/grants expires_at": "an expiry must lie in the future (a rule of the clock)",
    r"POST /api/v1/webhooks events\.\d+": "event patterns are checked against the catalogue "
    "of event types (GET /api/v1/events/types), which the schema does not enumerate",
    r"PATCH /api/v1/tenants/\{tenant_id\}/quota class_instances": "instance quotas name "
    "resource classes that exist (the admin defines them; the schema cannot list them)",
}

# Operations the fuzzer must not call, each with its reason; everything else is fuzzed.
EXCLUDED = {
    "event.stream": "an endless text/event-stream: the fuzzer reads whole bodies "
    "(its contract is in tests/integration/test_event_stream.py)",
}


@dataclass
class Principal:
    """The fuzzer's own tenant-admin (public plane) and the platform admin (admin plane)."""

    server: ApiProcess
    tenant_token: str
    tenant_id: str


@dataclass
class Totals:
    """What one plane's run did: operations and cases seen, failures by check and operation."""

    operations: set[str] = field(default_factory=set)
    cases: Counter[str] = field(default_factory=Counter)  # by phase
    failures: list[str] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)  # ACCEPTED_422 key -> cases

    def line(self, plane: str) -> str:
        return (
            f"fuzz totals [{plane}]: {len(self.operations)} operations, "
            f"{sum(self.cases.values())} cases {dict(self.cases)}, "
            f"{len(self.failures)} failures, accepted 422s {dict(self.accepted)}"
        )


def _ok(resp: httpx.Response, status: int) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def principal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Principal]:
    home = tmp_path_factory.mktemp("fuzz") / "home"
    with private_pg_database("fmlfuzz") as url, api_process(home, url) as srv:
        admin = {"Authorization": f"Bearer {srv.admin_token}"}
        with httpx.Client(base_url=f"{srv.admin_url}{API}", headers=admin, timeout=30) as c:
            tenant = _ok(c.post("/tenants", json={"name": "fuzz"}), 201)
            user = {"email": "fuzz@example.com", "role": "tenant-admin", "tenant_id": tenant["id"]}
            uid = _ok(c.post("/users", json={**user, "password": "fuzz-password-1"}), 201)["id"]
            token = _ok(c.post("/tokens", json={"name": "fuzz", "user_id": uid}), 201)["token"]
        yield Principal(srv, token, tenant["id"])
        assert srv.proc.poll() is None, "the server died under the fuzzer"


def _config(headers: dict[str, str], *, coverage: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": 12,  # reproducible in CI; change it locally to explore further
            "headers": headers,
            "request-timeout": TIMEOUT_S,
            "workers": 1,  # schemathesis 4 generation is not thread-safe (seen: AST recursion errors)
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": coverage},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {"enabled": True},  # `--checks all`
        }
    )


def _load(base: str, token: str, *, coverage: bool) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(
        f"{base}{API}/openapi.json", config=_config(headers, coverage=coverage), headers=headers
    )
    return schema.exclude(operation_id=list(EXCLUDED))


def _accepted_422(rec: Any, case_id: str, check: str) -> str | None:
    """The ACCEPTED_422 key when a schema-valid request was refused for that reason alone."""
    sent = rec.interactions.get(case_id)
    if check != "positive_data_acceptance" or sent is None or sent.response is None:
        return None
    if sent.response.status_code != 422:
        return None
    try:
        problems = json.loads(sent.response.content)["error"]["details"]["errors"]
    except (ValueError, KeyError, TypeError):
        return None
    keys = set()
    for problem in problems:
        where = f"{rec.label} {problem.get('loc')}"
        key = next((k for k in ACCEPTED_422 if re.fullmatch(k, where)), None)
        if key is None:
            return None
        keys.add(key)
    return " + ".join(sorted(k.split(" ")[-1] for k in keys)) if keys else None


def _describe(rec: Any, case_id: str, check: Any) -> str:
    """One failure: the check, what was sent and what came back (enough to reproduce it)."""
    f = check.failure_info.failure
    sent = rec.interactions.get(case_id)
    got = ""
    if sent is not None:
        req = sent.request
        body = (req.body or b"")[:300]
        got = f"\n  sent: {req.method} {req.uri} {body!r}"
        if sent.response is not None:
            got += f"\n  got: {sent.response.status_code} {sent.response.content[:300]!r}"
    return f"{rec.label}: {check.name}: {f.title}\n  {f.message}{got}"


def _tally(totals: Totals, event: Any) -> None:
    if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
        rec = event.recorder
        if rec.cases:
            totals.operations.add(rec.label)
        totals.cases[event.phase.value] += len(rec.cases)
        for case_id, checks in rec.checks.items():
            for check in checks:
                if check.status != Status.FAILURE or check.failure_info is None:
                    continue
                accepted = _accepted_422(rec, case_id, check.name)
                if accepted:
                    totals.accepted[accepted] += 1
                else:
                    totals.failures.append(_describe(rec, case_id, check))
    elif isinstance(event, events.NonFatalError | events.FatalError):
        totals.failures.append(f"{getattr(event, 'label', '?')}: error: {event.info.format()}")


def _fuzz(plane: str, base: str, token: str, *, coverage: bool = True) -> Totals:
    totals = Totals()
    schema = _load(base, token, coverage=coverage)
    for event in schemathesis.engine.from_schema(schema).execute():
        _tally(totals, event)
    print(totals.line(plane))  # pytest -rA or -s shows it; the closing note quotes it
    return totals


@pytest.mark.postgres
def test_public_plane_as_a_tenant_admin(principal: Principal) -> None:
    totals = _fuzz("public", principal.server.public_url, principal.tenant_token)
    assert totals.operations and totals.cases, "nothing was fuzzed: a loader or filter mistake"
    assert not totals.failures, "\n\n".join(totals.failures[:20])


@pytest.mark.postgres
def test_admin_plane_as_the_platform_admin(principal: Principal) -> None:
    # The coverage phase walks the schema deterministically, and both planes serve one document:
    # it runs once, on the public plane. Here the examples and random cases meet the rules that
    # depend on the caller (a platform admin), within the module's time budget.
    srv = principal.server
    totals = _fuzz("admin", srv.admin_url, srv.admin_token, coverage=False)
    assert totals.operations and totals.cases, "nothing was fuzzed: a loader or filter mistake"
    assert not totals.failures, "\n\n".join(totals.failures[:20])
