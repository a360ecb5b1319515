"""SSRF guard for outbound webhooks: resolve the host, refuse internal addresses, pin the IP.

Checked at creation (422) and again before every delivery, and the request then goes to the
address that was checked, so a DNS answer that changes in between (rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from forgeml.config import WebhookSettings
from forgeml.domain.errors import InvalidInput
from forgeml.domain.webhooks import IP, check_url, parse_allowlist, refused_addresses


@dataclass(frozen=True)
class Target:
    """Where to send: the URL rewritten to the checked IP, plus the original host name."""

    url: str
    host_header: str
    sni_hostname: str | None


def resolve(host: str, port: int) -> list[IP]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput.fields([{"loc": "url", "msg": f"cannot resolve {host}: {exc}"}]) from exc
    seen: dict[str, IP] = {}
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        seen.setdefault(str(addr), addr)
    return list(seen.values())


class AddressGuard:
    def __init__(self, settings: WebhookSettings) -> None:
        self.names, self.nets = parse_allowlist(settings.allow_hosts)

    def check(self, url: str) -> Target:
        """Validate `url` and return the pinned target; InvalidInput (422) when refused."""
        check_url(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addrs = resolve(host, port)
        problems = refused_addresses(host, addrs, self.names, self.nets)
        if problems:
            raise InvalidInput.fields([{"loc": "url", "msg": m} for m in problems])
        addr = addrs[0]
        literal = f"[{addr}]" if addr.version == 6 else str(addr)
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = parts.netloc.rsplit("@", 1)[-1]
        return Target(
            url=pinned,
            host_header=host_header,
            sni_hostname=host if parts.scheme == "https" else None,
        )
