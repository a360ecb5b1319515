"""Allowlist rules for the tenant inputs the launcher also reads: channel names and environment
variables (only those the algorithm's manifest declares). Defined once; submit and launcher use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    StringConstraints,
    model_validator,
)

MAX_ENV = 48  # variables one job may set
MAX_ENV_VALUE = 4096
MAX_CHOICES = 100

# A channel becomes a folder `/opt/ml/input/data/<name>` and `SM_CHANNEL_<NAME>`: no dots, so
# neither `.`/`..` nor an env-invalid name can arise.
CHANNEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
CHANNEL_NAME_RULE = "channel names must match [A-Za-z0-9][A-Za-z0-9_-]* (at most 64 characters)"
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

# Never settable, even when declared: what the launcher sets itself, and what changes how the
# dynamic loader, an interpreter, the C library, TLS, name resolution, pip or a shell starts.
# The allowlist is the defence; this only stops an owner from declaring one of these.
RESERVED_ENV_NAMES = frozenset(
    {
        "PATH", "HOME", "TMPDIR", "TMP", "TEMP", "LANG", "LANGUAGE", "TZ", "TZDIR", "SHELL",
        "USER", "LOGNAME", "TRAINING_JOB_NAME", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE",
        "RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "LOCAL_WORLD_SIZE", "CUDA_VISIBLE_DEVICES",
        "GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME", "BASH_ENV", "ENV", "IFS", "CDPATH", "PS4",
        "SHELLOPTS", "BASHOPTS", "GLOBIGNORE", "LOCPATH", "NLSPATH", "HOSTALIASES", "LOCALDOMAIN",
        "RES_OPTIONS", "RESOLV_HOST_CONF", "SSL_CERT_FILE", "SSL_CERT_DIR", "OPENSSL_CONF",
        "OPENSSL_MODULES", "OPENSSL_ENGINES", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
        "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH",
        "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "VIRTUAL_ENV", "MPLCONFIGDIR", "XDG_CONFIG_HOME",
    }
)  # fmt: skip
RESERVED_ENV_PREFIXES = (
    "SM_", "SAGEMAKER_", "FORGEML_", "LD_", "PYTHON", "BASH_FUNC_", "GCONV_", "LC_", "PIP_",
    "GLIBC_", "MALLOC_", "UV_", "CONDA_", "NUMBA_", "OMPI_", "PMIX_", "GIT_",
)  # fmt: skip


def channel_name_problem(name: str) -> str | None:
    """Why `name` cannot be a channel, or None when it can."""
    return None if CHANNEL_NAME_RE.fullmatch(name) else CHANNEL_NAME_RULE


def reserved_env_problem(name: str) -> str | None:
    """Why no algorithm may declare (and no job set) the variable `name`, or None."""
    if not ENV_NAME_RE.fullmatch(name):
        return "environment variable names must match [A-Za-z_][A-Za-z0-9_]* (at most 128)"
    upper = name.upper()
    if upper in RESERVED_ENV_NAMES or upper.startswith(RESERVED_ENV_PREFIXES):
        return f"{name} is reserved by the platform and can never be set"
    return None


def env_value_problem(value: str) -> str | None:
    """Why a value cannot be passed in the environment (NUL, control characters, length)."""
    if len(value) > MAX_ENV_VALUE:
        return f"value is longer than {MAX_ENV_VALUE} characters"
    if any(ord(c) < 32 and c != "\t" for c in value):
        return "value contains a NUL or control character"
    return None


def _declarable(name: str) -> str:
    why = reserved_env_problem(name)
    if why:
        raise ValueError(why)
    return name


EnvText = Annotated[StrictStr, StringConstraints(max_length=MAX_ENV_VALUE)]
#: A name a manifest may declare: well-formed and not reserved.
DeclaredEnvName = Annotated[str, AfterValidator(_declarable)]


class EnvironmentSpec(BaseModel):
    """One declared variable: what a tenant may set, and which values are accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Annotated[str, StringConstraints(max_length=1024)] = ""
    pattern: Annotated[StrictStr, StringConstraints(min_length=1, max_length=500)] | None = None
    choices: tuple[EnvText, ...] | None = Field(default=None, min_length=1, max_length=MAX_CHOICES)
    default: EnvText | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EnvironmentSpec:
        if self.pattern is not None and self.choices is not None:
            raise ValueError("give either pattern or choices, not both")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        if self.default is not None and (why := self.value_problem(self.default)):
            raise ValueError(f"default {self.default!r}: {why}")
        return self

    def value_problem(self, value: str) -> str | None:
        """Why `value` is not accepted for this variable, or None."""
        why = env_value_problem(value)
        if why:
            return why
        if self.choices is not None and value not in self.choices:
            return f"{value[:64]!r} is not one of: {', '.join(self.choices[:20])}"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"{value[:64]!r} does not match {self.pattern}"
        return None

    def card(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_none=True)


def environment_values(
    declared: Mapping[str, EnvironmentSpec], given: Mapping[str, str]
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The job's environment (given values plus declared defaults) and every problem of `given`.

    Every name the algorithm does not declare is refused by name; reserved names always are.
    """
    problems: list[dict[str, str]] = []
    known = ", ".join(sorted(declared)[:20]) or "none"
    if len(given) > MAX_ENV:
        problems.append({"loc": "environment", "msg": f"at most {MAX_ENV} variables"})
    out: dict[str, str] = {}
    for name, value in given.items():
        loc = f"environment.{name[:64]}"
        spec = declared.get(name)
        why = reserved_env_problem(name)
        if why is None and spec is None:
            why = f"{name[:64]} is not declared by this algorithm (it declares: {known})"
        if why is None and spec is not None:
            why = spec.value_problem(value)
        if why:
            problems.append({"loc": loc, "msg": why})
        else:
            out[name] = value
    for name, spec in declared.items():
        if name not in given and spec.default is not None:
            out[name] = spec.default
    return dict(sorted(out.items())), problems
