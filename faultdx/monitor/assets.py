"""What describes an asset (one measurement point on one machine), validated the same way for the API, the
CLI and the store: the machine context a diagnosis takes from it, and how its severity is judged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from faultdx.context import ContextError, check_bearing, check_rpm
from faultdx.diagnose import MAX_SAMPLING_RATE, MIN_SAMPLING_RATE
from faultdx.monitor.alarms import DEFAULT_REPEAT_M, DEFAULT_REPEAT_N, MAX_REPEAT_M, AlarmRule
from faultdx.monitor.zones import ZoneLimits, iso_limits

Text = Field(default=None, max_length=200)


class Limits(BaseModel):
    """Custom zone limits: upper velocity RMS (mm/s) of zones A, B and C."""

    model_config = ConfigDict(extra="forbid")

    ab: float = Field(gt=0, allow_inf_nan=False)
    bc: float = Field(gt=0, allow_inf_nan=False)
    cd: float = Field(gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _rising(self) -> Limits:
        ZoneLimits(self.ab, self.bc, self.cd)
        return self


class AssetFields(BaseModel):
    """Every field of an asset; all optional (a partial update sends only the fields it changes)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200,
                             description="unique; not all digits (an asset is addressed by id or name)")
    machine: str | None = Text
    location: str | None = Text
    sensor_position: str | None = Field(default=None, max_length=200, examples=["drive end, horizontal"])
    bearing: Any = Field(default=None, description="a catalogue name or a geometry, as in /v1/diagnose")
    rpm: float | None = Field(default=None, description="nominal shaft speed (rpm)")
    sampling_rate: float | None = Field(default=None, ge=MIN_SAMPLING_RATE, le=MAX_SAMPLING_RATE,
                                        description="Hz of the signals this sensor sends")
    iso_group: Literal[1, 2] | None = Field(default=None, description="ISO 20816-3 machine group")
    support: Literal["rigid", "flexible"] | None = Field(default=None, description="ISO 20816-3 support")
    zone_limits: Limits | None = Field(default=None, description="own limits instead of the ISO group's")
    tags: list[str] | None = Field(default=None, max_length=50)
    alarm_repeat_n: int | None = Field(default=None, ge=1, le=MAX_REPEAT_M)
    alarm_repeat_m: int | None = Field(default=None, ge=1, le=MAX_REPEAT_M)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value or value.isdigit():
            raise ValueError("name must be non-empty and not all digits (ids are numbers)")
        if not value.isprintable():
            raise ValueError("name must not hold control characters")
        if "/" in value:  # /v1/assets/{name} could never address it
            raise ValueError("name must not hold '/' (an asset is addressed by name in URLs)")
        return value

    @field_validator("rpm")
    @classmethod
    def _rpm(cls, value: float | None) -> float | None:
        return None if value is None else _context(check_rpm, value, "rpm")

    @field_validator("bearing")
    @classmethod
    def _bearing(cls, value: Any) -> Any:
        if value is not None:
            _context(check_bearing, value, "bearing")
        return value


def _context(check: Any, value: Any, field: str) -> Any:
    try:
        return check(value, field)
    except ContextError as err:
        raise ValueError(str(err)) from None


class AssetSpec(AssetFields):
    """A new asset: a name is required; the rest is optional context."""

    name: str = Field(min_length=1, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=50)
    alarm_repeat_n: int = Field(default=DEFAULT_REPEAT_N, ge=1, le=MAX_REPEAT_M)
    alarm_repeat_m: int = Field(default=DEFAULT_REPEAT_M, ge=1, le=MAX_REPEAT_M)

    @model_validator(mode="after")
    def _consistent(self) -> AssetSpec:
        check_consistent(self.model_dump())
        return self


def check_consistent(values: dict[str, Any]) -> None:
    """Group and support come together; the alarm rule is possible (raises ``ValueError``)."""
    if (values.get("iso_group") is None) != (values.get("support") is None):
        raise ValueError("iso_group and support go together: give both (or zone_limits instead)")
    AlarmRule(values.get("alarm_repeat_n") or DEFAULT_REPEAT_N,
              values.get("alarm_repeat_m") or DEFAULT_REPEAT_M)


def limits_of(values: dict[str, Any]) -> ZoneLimits | None:
    """An asset's zone limits: its own, else its ISO group's, else None (no zone without either)."""
    own = values.get("zone_limits")
    if own:
        return ZoneLimits(own["ab"], own["bc"], own["cd"])
    if values.get("iso_group") is not None and values.get("support") is not None:
        return iso_limits(values["iso_group"], values["support"])
    return None
