"""Webhooks, deliveries and notification preferences: data, signatures, backoff, address rules.

Pure code: DNS resolution and HTTP live in `services/`; this module decides what is allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from forgeml.domain.errors import InvalidInput

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network
# Cloud metadata endpoints: named explicitly, whatever the stdlib's idea of "private" becomes.
METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
MAX_URL = 2000
_rng = random.Random()


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"  # claimed under a lease by one dispatcher
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Webhook:
    id: str
    tenant_id: str
    url: str
    events: tuple[str, ...]
    description: str
    enabled: bool
    failure_streak: int
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: str
    tenant_id: str
    webhook_id: str
    event_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    window_start: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_duration_ms: int | None
    last_error: str | None
    last_response: str | None
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class NotificationPrefs:
    user_id: str
    email_on_job_completed: bool = False
    email_on_job_failed: bool = False


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`X-ForgeML-Signature` value: HMAC-SHA256 of `<timestamp>.<raw body>` with the secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def backoff_s(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before retry number `attempt` (1-based): base·2^(n-1), capped, ±20 % jitter."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay * (rng or _rng).uniform(0.8, 1.2)


def check_url(url: str) -> str:
    """Syntactic rules: http(s) only, a host, no credentials in the URL, bounded length."""
    problems = []
    parts = urlsplit(url)
    if len(url) > MAX_URL:
        problems.append(f"at most {MAX_URL} characters")
    if parts.scheme not in ("http", "https"):
        problems.append("only http and https URLs are allowed")
    if not parts.hostname:
        problems.append("the URL needs a host")
    if parts.username or parts.password:
        problems.append("credentials in the URL are not supported; verify the signature instead")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        problems.append("invalid port")
    if problems:
        raise InvalidInput.fields([{"loc": "url", "msg": m} for m in problems])
    return url


def parse_allowlist(entries: list[str]) -> tuple[frozenset[str], tuple[Net, ...]]:
    """Split `webhooks.allow_hosts` into host names and networks (IPs become /32 or /128)."""
    names: set[str] = set()
    nets: list[Net] = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            names.add(entry.strip().lower().rstrip("."))
    return frozenset(names), tuple(nets)


def blocked_reason(addr: IP) -> str | None:
    """Why an address must not be called (None: a public unicast address)."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    checks = [
        (addr in METADATA, "cloud metadata"),
        (addr.is_loopback, "loopback"),
        (addr.is_link_local, "link-local"),
        (addr.is_multicast, "multicast"),
        (addr.is_unspecified, "unspecified"),
        (addr.is_private, "private"),
        (addr.is_reserved, "reserved"),
        (not addr.is_global, "not globally routable"),
    ]
    return next((why for hit, why in checks if hit), None)


def refused_addresses(
    host: str, addrs: list[IP], allow_names: frozenset[str], allow_nets: tuple[Net, ...]
) -> list[str]:
    """Problems with a host's addresses; every address must be allowed (no mixed answers)."""
    if host.lower().rstrip(".") in allow_names:
        return []
    problems = []
    for addr in addrs:
        if any(addr in net for net in allow_nets if net.version == addr.version):
            continue
        why = blocked_reason(addr)
        if why:
            named = host if str(addr) == host.strip("[]") else f"{host} resolves to {addr}, which"
            problems.append(f"{named} is {why}; ask an admin to allowlist it")
    return problems
