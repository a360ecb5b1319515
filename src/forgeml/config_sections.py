"""The sections of the settings (`[s3]`, `[jobs]`, `[ray]`, ...): one pydantic model each, strict
about unknown keys. `config.Settings` composes them; import them from `forgeml.config`.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

MAX_DOWNLOAD_URL_TTL_S = 3600
# Every settings model refuses keys it does not know: a typo must fail at start, naming itself.
_STRICT = ConfigDict(extra="forbid")


class S3Settings(BaseModel):
    """Connection options for an `s3://bucket/prefix` storage URL."""

    model_config = _STRICT

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    path_style: bool = True
    presign_expiry_s: int = Field(default=300, ge=1, le=7 * 24 * 3600)  # upload parts (PUT)
    # A presigned GET is a bearer token for the object: short-lived, and optional. Off: the
    # presign endpoint answers 409 `presign_disabled` and artifacts stream through the API.
    presign_downloads: bool = True
    download_url_ttl_s: int = Field(default=300, ge=1, le=MAX_DOWNLOAD_URL_TTL_S)


_PIP_NAME = re.compile(r"PIP_[A-Z0-9_]{1,64}")
_BUILD_NAMES = frozenset(
    {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY",
     "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}
)  # fmt: skip


def pip_env_problem(name: str) -> str | None:
    """Why `builds.pip_env` may not set this variable (only pip's own and TLS/proxy settings)."""

    if _PIP_NAME.fullmatch(name) or name in _BUILD_NAMES:
        return None
    return f"builds.pip_env: {name!r} is not a pip, certificate or proxy setting"


class BuildSettings(BaseModel):
    """Algorithm environment builds (see training/build_jail.py): what pip may see and reach."""

    model_config = _STRICT

    # none: no network in the build jail (a local index, find-links or mirror is bound in);
    # host: the host network, for a remote index (limit it with an egress proxy in pip_env).
    network: Literal["none", "host"] = "none"
    pip_env: dict[str, str] = Field(default_factory=dict)  # e.g. PIP_INDEX_URL
    read_paths: list[Path] = Field(default_factory=list)  # folders pip needs beyond pip.conf's

    @model_validator(mode="after")
    def _names(self) -> BuildSettings:
        for name in self.pip_env:
            if problem := pip_env_problem(name):
                raise ValueError(problem)
        return self


class ServerSettings(BaseModel):
    """HTTP serving: which peers may tell us the client's address and scheme; graceful shutdown."""

    model_config = _STRICT

    # IPs or CIDRs of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed.
    # Empty (the default): the headers are ignored, whoever sends them.
    trusted_proxies: list[str] = Field(default_factory=list, max_length=64)
    # SIGTERM: /readyz answers 503 for drain_s while the listener still serves (a load balancer
    # takes the replica out), then the listener closes and in-flight requests get grace_s.
    drain_s: float = Field(default=5.0, ge=0, le=300)
    grace_s: int = Field(default=30, ge=0, le=3600)

    @model_validator(mode="after")
    def _addresses(self) -> ServerSettings:
        for value in self.trusted_proxies:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                msg = f"server.trusted_proxies: {value!r} is not an IP address or CIDR"
                raise ValueError(msg) from None
        return self


class AuthSettings(BaseModel):
    """Credential lifetimes and login throttling."""

    model_config = _STRICT

    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    token_default_ttl_days: int | None = Field(default=90, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=900, ge=1)
    cookie_secure: bool = False  # force Secure; it is set anyway when the request is https


class WebhookSettings(BaseModel):
    """Outbound webhooks: retries, SSRF allowlist, dispatcher leases (see docs/webhooks.md)."""

    model_config = _STRICT

    retry_window_s: float = Field(default=3 * 24 * 3600, gt=0)
    backoff_base_s: float = Field(default=10.0, gt=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    lease_s: float = Field(
        default=60.0, gt=0
    )  # must exceed timeout_s: an attempt never outlives it
    disable_after_failures: int = Field(default=100, ge=1)  # consecutive failed attempts
    allow_hosts: list[str] = Field(default_factory=list)  # host names, IPs or CIDRs
    response_log_bytes: int = Field(default=2048, ge=0)
    poll_interval_s: float = Field(default=1.0, gt=0)
    batch: int = Field(default=100, ge=1)
    concurrency: int = Field(default=2, ge=1, le=32)  # dispatcher loops per worker process

    @model_validator(mode="after")
    def _lease_covers_timeout(self) -> WebhookSettings:
        if self.lease_s <= self.timeout_s:
            raise ValueError("webhooks.lease_s must be greater than webhooks.timeout_s")
        return self


class SmtpSettings(BaseModel):
    """E-mail notifications; nothing is sent while `host` is unset."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True
    from_: str = Field(default="ForgeML <forgeml@localhost>", alias="from")
    timeout_s: float = Field(default=20.0, gt=0)
    retry_window_s: float = Field(default=24 * 3600, gt=0)
    backoff_base_s: float = Field(default=30.0, gt=0)


class EventStreamSettings(BaseModel):
    """Server-sent events: outbox polling period, keep-alive comments, credential re-checks."""

    model_config = _STRICT

    poll_s: float = Field(default=1.0, gt=0)
    keepalive_s: float = Field(default=15.0, gt=0)
    recheck_s: float = Field(default=60.0, gt=0)


class WorkerSettings(BaseModel):
    """A standalone `forgeml worker`: its health endpoint (/livez, /readyz), off when unset, and
    the polling floor of the loops that wake on events (`db/wakeups.py`)."""

    model_config = _STRICT

    # An idle runner, builder or dispatcher sleeps until notified, or this long at most: the
    # safety net for a notification lost while the database was away.
    wake_floor_s: float = Field(default=5.0, gt=0, le=3600)

    # host:port, e.g. 127.0.0.1:8081; unauthenticated, so a private address (docs/operations.md)
    health_listen: str | None = Field(default=None, pattern=r"^\S+:\d{1,5}$")


class RaySettings(BaseModel):
    """`executor = "ray"`: the cluster the job hosts run on (docs/deploy.md)."""

    model_config = _STRICT

    address: str = "auto"  # `ray.init(address=...)`: "auto", "ray://head:10001", host:port
    namespace: str = Field(default="forgeml", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Multi-host jobs: "pack" keeps every host of a job on one node, in the job's private loopback
    # network; "spread" puts one host per node (STRICT_SPREAD when the cluster has enough nodes,
    # packed otherwise), and such hosts use the node's network: the nodes' firewall must confine it.
    multi_node: Literal["pack", "spread"] = "pack"
    # Ask for a custom resource `forgeml-class-<class>` per host: admins pin classes to node types.
    class_resources: bool = False
    # How long a job waits for the cluster to place its hosts before the attempt fails (retried).
    placement_timeout_s: float = Field(default=600.0, gt=0)


class JobSettings(BaseModel):
    """Training jobs: limits checked at submission, and this process's runner (capacity, leases)."""

    model_config = _STRICT

    max_runtime_limit_s: int = Field(default=7 * 24 * 3600, ge=1)
    default_max_runtime_s: int = Field(default=24 * 3600, ge=1)
    # The currency of the resource classes' price_per_hour, shown beside every cost.
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    allow_network: bool = False  # may algorithms that declare `network: true` have it
    # Jobs get a CPU weight worth their class's CPUs; a hard cap also throttles them when idle.
    cpu_hard_cap: bool = False
    lease_s: float = Field(default=30.0, gt=0)
    heartbeat_s: float = Field(default=3.0, gt=0)
    reconcile_s: float = Field(default=10.0, gt=0)
    # An interrupted job waits retry_backoff_s before it is claimed again, twice as long after
    # each further interruption (capped); outages of the DB or store are retried up to
    # max_outage_retries times without spending the tenant's max_attempts.
    retry_backoff_s: float = Field(default=5.0, ge=0)
    retry_backoff_cap_s: float = Field(default=600.0, ge=0)
    max_outage_retries: int = Field(default=10, ge=0)
    stop_grace_s: float = Field(default=30.0, ge=0)
    # Staging input channels retries transient store errors this long, then the attempt is
    # interrupted as a platform outage (retried later without spending max_attempts).
    staging_patience_s: float = Field(default=120.0, ge=0)
    checkpoint_interval_s: float = Field(default=60.0, gt=0)
    log_flush_s: float = Field(default=0.25, gt=0)
    runner_name: str | None = None  # default: the host name
    runner_cpus: int | None = Field(default=None, ge=1)  # default: max(4, CPUs of this host)
    runner_memory_bytes: int | None = Field(default=None, ge=1)  # default: 4 x physical memory
    runner_gpus: list[int] = Field(default_factory=list)  # GPU indices this runner may assign
    work_dir: Path | None = None  # default: <home>/work
    # A job's volume_gb caps everything it writes (training/volume.py): `mount` a loop ext4 image
    # (needs root), `watch` its size, or `auto` (mount when possible, else watch).
    volume_enforcement: Literal["auto", "mount", "watch"] = "auto"
    volume_unit_bytes: int = Field(default=1024**3, ge=1024**2)  # bytes per volume "GB"; tests
    # Warm starts (training/warm_pool.py): ready jailed interpreters per recently used algorithm
    # environment, torch etc. already imported; 0 turns them off. Each costs the memory of one
    # idle python with its preloads (hundreds of MB with torch).
    warm_pool_size: int = Field(default=1, ge=0, le=8)
    warm_pool_envs: int = Field(default=4, ge=1, le=64)  # environments kept hot at once
