"""Settings: one pydantic-settings object built once in `main` and passed down.

Sources, strongest first: init arguments, `FORGEML_*` environment variables (`__` nests),
an optional TOML file (`FORGEML_CONFIG_FILE` or `<home>/forgeml.toml`), then defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from forgeml.config_sections import (
    MAX_DOWNLOAD_URL_TTL_S as MAX_DOWNLOAD_URL_TTL_S,
)
from forgeml.config_sections import (
    AuthSettings as AuthSettings,
)
from forgeml.config_sections import (
    BuildSettings as BuildSettings,
)
from forgeml.config_sections import (
    EventStreamSettings as EventStreamSettings,
)
from forgeml.config_sections import (
    JobSettings as JobSettings,
)
from forgeml.config_sections import (
    RaySettings as RaySettings,
)
from forgeml.config_sections import (
    S3Settings as S3Settings,
)
from forgeml.config_sections import (
    ServerSettings as ServerSettings,
)
from forgeml.config_sections import (
    SmtpSettings as SmtpSettings,
)
from forgeml.config_sections import (
    WebhookSettings as WebhookSettings,
)
from forgeml.config_sections import (
    WorkerSettings as WorkerSettings,
)
from forgeml.domain.home import default_home

# FORGEML_* variables that are not settings: read by the CLI/SDK, or (prefixes) by the test and
# bench harnesses. Anything else under FORGEML_ that names no setting stops the server at start.
CLIENT_VARIABLES = frozenset(
    {"URL", "TOKEN", "PROFILE", "PASSWORD", "NEW_PASSWORD", "CONFIG_DIR", "CONFIG_FILE"}
)
HARNESS_PREFIXES = ("TEST_", "BENCH_")


class Settings(BaseSettings):
    """The effective configuration of one ForgeML process."""

    model_config = SettingsConfigDict(
        env_prefix="FORGEML_",
        env_nested_delimiter="__",
        extra="forbid",  # a misspelt key in forgeml.toml is an error, not silently ignored
        validate_default=True,
    )

    home: Path = Field(default_factory=default_home)
    database_url: str = ""  # default: sqlite:///<home>/forgeml.db
    storage_url: str = ""  # default: file://<home>/objects
    executor: Literal["local", "ray"] = "local"
    sandbox: Literal["required", "auto", "off"] = "auto"
    listen: str = "127.0.0.1:8080"
    admin_listen: str | None = None  # when set, platform admins are refused on `listen`
    public_url: str | None = None
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "console"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    page_size_max: int = Field(default=200, ge=1)
    # Store temp files and unfinished multipart uploads this old were left by a crash: swept.
    store_sweep_after_s: int = Field(default=24 * 3600, ge=60)
    algorithm_max_bundle_bytes: int = Field(default=1024**3, ge=1024)  # registered bundles
    algorithm_envs_dir: Path | None = None  # default: <home>/envs (venvs + code per digest)
    server: ServerSettings = Field(default_factory=ServerSettings)
    builds: BuildSettings = Field(default_factory=BuildSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    events: EventStreamSettings = Field(default_factory=EventStreamSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    ray: RaySettings = Field(default_factory=RaySettings)

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.home = self.home.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'forgeml.db'}"
        if not self.storage_url:
            self.storage_url = f"file://{self.home / 'objects'}"
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("FORGEML_CONFIG_FILE") or str(default_home() / "forgeml.toml")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
        return (init_settings, env_settings, toml)

    def masked(self) -> dict[str, Any]:
        """The effective config as plain data with secrets and URL passwords masked."""
        data: dict[str, Any] = self.model_dump(mode="json")
        data["database_url"] = mask_url(self.database_url)
        for key in ("access_key_id", "secret_access_key"):
            if data["s3"].get(key):
                data["s3"][key] = "********"
        if data["smtp"].get("password"):
            data["smtp"]["password"] = "********"
        # An index URL may carry credentials (https://user:token@host/simple).
        data["builds"]["pip_env"] = {k: mask_url(v) for k, v in data["builds"]["pip_env"].items()}
        return data


@dataclass(frozen=True)
class AlgorithmSettings:
    """The slice of Settings the algorithm registry and its environments read."""

    envs_dir: Path
    max_bundle_bytes: int
    sandbox: Literal["required", "auto", "off"]
    builds: BuildSettings

    @classmethod
    def of(cls, settings: Settings) -> AlgorithmSettings:
        return cls(
            envs_dir=settings.algorithm_envs_dir or settings.home / "envs",
            max_bundle_bytes=settings.algorithm_max_bundle_bytes,
            sandbox=settings.sandbox,
            builds=settings.builds,
        )


@dataclass(frozen=True)
class JobServiceSettings:
    """The slice of Settings the job services read: limits, this process's runner, where and how
    attempts run, and the store for presigned artifact downloads."""

    jobs: JobSettings
    work_root: Path  # <work_root>/<job>/attempt-<n> holds an attempt's files
    sandbox: Literal["required", "auto", "off"]
    executor: Literal["local", "ray"]
    s3: S3Settings
    ray: RaySettings = field(default_factory=RaySettings)

    @classmethod
    def of(cls, settings: Settings) -> JobServiceSettings:
        return cls(
            jobs=settings.jobs,
            work_root=settings.jobs.work_dir or settings.home / "work",
            sandbox=settings.sandbox,
            executor=settings.executor,
            s3=settings.s3,
            ray=settings.ray,
        )


@dataclass(frozen=True)
class NotifySettings:
    """The slice of Settings the notification dispatcher reads."""

    webhooks: WebhookSettings
    smtp: SmtpSettings
    public_url: str  # links in e-mails point here

    @classmethod
    def of(cls, settings: Settings) -> NotifySettings:
        url = settings.public_url or f"http://{settings.listen}"
        return cls(webhooks=settings.webhooks, smtp=settings.smtp, public_url=url)


def mask_url(url: str) -> str:
    """Hide the password part of `scheme://user:password@host/...`."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":********"
    return f"{scheme}://{creds}@{host}"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """`FORGEML_*` names in `environ` that are neither a setting nor a known client variable."""
    unknown = []
    for name in sorted(environ):
        rest = name[len("FORGEML_") :] if name.startswith("FORGEML_") else None
        if rest is None or rest in CLIENT_VARIABLES or rest.startswith(HARNESS_PREFIXES):
            continue
        if not _names_a_setting(Settings, rest.lower().split("__")):
            unknown.append(name)
    return unknown


def _names_a_setting(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    inner = field.annotation
    return (
        isinstance(inner, type)
        and issubclass(inner, BaseModel)
        and _names_a_setting(inner, path[1:])
    )
