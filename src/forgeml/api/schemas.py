"""Request and response bodies of the identity, audit and ops API (pydantic v2, strict inputs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import UnionType
from typing import (
    Annotated,
    Any,
    ClassVar,
    Generic,
    Literal,
    Protocol,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from forgeml.api.mirror import mirrors
from forgeml.domain import identity
from forgeml.domain.audit import AuditEvent
from forgeml.domain.identity import (
    EMAIL_RE,
    PASSWORD_MAX_LEN,
    PASSWORD_MIN_LEN,
    TENANT_NAME_RE,
    Role,
    TenantStatus,
    TokenScope,
)

T = TypeVar("T")

# Bounds in the schema for numbers stored in BIGINT and INTEGER columns, so a larger one is the
# documented 422, not an overflow in the INSERT. The BIGINT one is the largest integer a JSON
# double holds exactly (2^53 - 1, 8 PiB as bytes): at 2^63 clients and validators that read
# numbers as doubles disagree about which values lie inside.
BIGINT_MAX = 2**53 - 1
INT_MAX = 2**31 - 1


class Input(BaseModel):
    """Base for request bodies: unknown fields are an error, never silently ignored, and
    `true`/`false` is refused where the schema asks for a number (pydantic would read 0/1)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name
        if isinstance(value, bool) and name and not _admits_bool(cls.model_fields[name].annotation):
            raise ValueError("a boolean is not a value of this field")
        return value


def _admits_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return _admits_bool(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return any(_admits_bool(a) for a in get_args(annotation))
    return False


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _no_epoch_number(value: Any) -> Any:
    """Pydantic reads "1.5" as seconds since 1970; the schema promises an RFC 3339 date-time."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError("use an RFC 3339 date-time such as 2026-01-31T12:00:00Z")
    return value


# A field that may be left out but never sent as null (the schema shows no null).
Absent = SkipJsonSchema[None]

# A date-time filter or field that refuses bare numbers (epoch seconds, fractional or not).
Timestamp = Annotated[datetime, BeforeValidator(_no_epoch_number)]


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class _Page(Protocol):
    @property
    def items(self) -> Sequence[Any]: ...
    @property
    def next_cursor(self) -> str | None: ...


def page_of(convert: Callable[[Any], T], res: _Page) -> PageOut[T]:
    """One page of a service's listing, each item rendered by `convert` (a model's
    `model_validate`, or a route's own renderer)."""
    return PageOut(items=[convert(x) for x in res.items], next_cursor=res.next_cursor)


@mirrors(identity.Tenant)
class TenantOut(Output):
    pass


class TenantCreate(Input):
    name: str = Field(
        min_length=1, max_length=63, pattern=TENANT_NAME_RE.pattern, examples=["acme"]
    )
    display_name: str | None = Field(default=None, max_length=200)
    storage_quota_bytes: int | None = Field(default=None, ge=0, le=BIGINT_MAX)


class Patch(Input):
    """Every field optional: an absent field is unchanged, `null` is refused unless the field
    names it as a value of its own (listed in `nullable`, e.g. "no quota")."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        # defaults are not validated, so only an explicit null gets here
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("leave the field out to keep it; null is not a value")
        return value


class TenantUpdate(Patch):
    nullable = frozenset({"storage_quota_bytes"})  # null: no quota

    # the pattern inside the union: on the outer Field pydantic leaves it out of the schema
    name: Annotated[str, Field(max_length=63, pattern=TENANT_NAME_RE.pattern)] | Absent = None
    display_name: str | Absent = Field(default=None, min_length=1, max_length=200)
    storage_quota_bytes: int | None = Field(default=None, ge=0, le=BIGINT_MAX)
    status: TenantStatus | Absent = None
    # fair-share weight: a tenant of weight 2 gets twice the share of one of weight 1
    weight: Annotated[float, Field(ge=0.01, le=1000, allow_inf_nan=False)] | Absent = None


@mirrors(identity.User)
class UserOut(Output):
    pass


# The password rule of `domain.identity.check_password`, published in the schema.
_PASSWORD = {"min_length": PASSWORD_MIN_LEN, "max_length": PASSWORD_MAX_LEN}


class UserCreate(Input):
    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_RE.pattern)
    name: str | None = Field(default=None, max_length=200)
    role: Role = Role.MEMBER
    password: str | None = Field(default=None, **_PASSWORD)  # type: ignore[call-overload]
    tenant_id: str | None = Field(default=None, max_length=32, description="platform admins only")


class UserUpdate(Patch):
    name: str | Absent = Field(default=None, min_length=1, max_length=200)
    role: Role | Absent = None
    disabled: StrictBool | Absent = None
    password: str | Absent = Field(default=None, **_PASSWORD)  # type: ignore[call-overload]


@mirrors(identity.ApiToken)
class TokenOut(Output):
    pass


class TokenCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[TokenScope] | None = Field(default=None, min_length=1)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    user_id: str | None = Field(default=None, max_length=32, description="admins: for another user")


class TokenCreated(TokenOut):
    token: str = Field(description="the secret; shown only in this response")


class LoginIn(Input):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    mode: Literal["session", "token"] = "session"
    token_name: str = Field(default="cli", min_length=1, max_length=200)


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str | None = None
    token: str | None = Field(default=None, description="mode=token: the secret, shown once")


class MeOut(BaseModel):
    user: UserOut
    tenant: TenantOut | None
    via: str
    scopes: list[TokenScope]
    csrf_token: str | None = None


@mirrors(AuditEvent)
class AuditOut(Output):
    pass


class HealthOut(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
