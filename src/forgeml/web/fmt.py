"""Jinja filters for the portal: sizes, times, durations, status badge classes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forgeml.domain.algorithms import channel_hint
from forgeml.domain.build_progress import EnvironmentBuild
from forgeml.domain.jobs import phase


def human_bytes(n: Any) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def when(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return str(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    return str(value)


def duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    s = int(float(seconds))
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def percent(used: Any, total: Any) -> int:
    if not total:
        return 0
    return max(0, min(100, round(100 * float(used or 0) / float(total))))


def badge(status: Any) -> str:
    """CSS class for a job or build status; names follow SageMaker's."""
    s = str(getattr(status, "value", status) or "").lower()
    if s in ("completed", "ready", "active", "success", "succeeded", "built"):
        return "badge ok"
    if s in ("failed", "suspended", "failure", "denied", "error"):
        return "badge bad"
    if s in ("stopped", "stopping", "interrupted", "revoked", "disabled", "expired"):
        return "badge muted"
    return "badge live"


def enum_value(value: Any) -> str:
    return str(getattr(value, "value", value) if value is not None else "")


def pairs(values: Any) -> list[tuple[str, str]]:
    """Options whose value is their label."""
    return [(str(v), str(v)) for v in values]


def phase_note(secondary: Any, message: Any) -> str:
    """The job's phase when it says more than its secondary status ("building environment")."""
    said = phase(enum_value(secondary), message if isinstance(message, str) else None)
    return "" if said.lower() in (enum_value(secondary).lower(), "queued") else said


def build_note(build: EnvironmentBuild) -> str:
    """The environment build a job waits on, as its page says it: no name, no log line."""
    n = build.packages_installed
    return (
        f"{build.phase.value}, {duration(build.elapsed_s)}, {n} package{'s' * (n != 1)} installed"
    )


_HTTP_REASONS = {
    400: "bad request", 401: "not signed in", 403: "not allowed", 404: "not found",
    409: "conflict", 413: "body too large", 422: "invalid input", 429: "too many attempts",
}  # fmt: skip


def audit_reason(event: Any) -> str:
    """Why a denied or failed call failed, from what the audit row recorded."""
    details = getattr(event, "details", None) or {}
    if getattr(event, "outcome", "success") == "success" or not isinstance(details, dict):
        return ""
    status = details.get("status")
    said = details.get("reason") or details.get("message")
    if said:  # the refusal's own words: the service's, or the error the middleware recorded
        return f"{status} {said}" if isinstance(status, int) else str(said)
    what = _HTTP_REASONS.get(status, "error") if isinstance(status, int) else "refused"
    where = f" on {details.get('method', '')} {details.get('path', '')}".rstrip()
    return f"{status} {what}{where}" if status else what


def money(amount: Any, currency: str = "") -> str:
    """A cost at the resource classes' prices per hour, in `jobs.currency` (`currency` global)."""
    value = float(amount or 0)
    text = "< 0.01" if 0 < value < 0.01 else f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


FILTERS = {
    "channel_hint": channel_hint,
    "money": money,
    "audit_reason": audit_reason,
    "phase_note": phase_note,
    "build_note": build_note,
    "pairs": pairs,
    "bytes": human_bytes,
    "when": when,
    "duration": duration,
    "percent": percent,
    "badge": badge,
    "ev": enum_value,
}
