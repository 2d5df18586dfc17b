"""What the monitoring store returns (pydantic models): the routes send them as they are, the CLI prints them
(``model_dump(mode="json")``), and nothing above the store reads a loose ``dict``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from faultdx.monitor.assets import AssetFields

ASSET_FIELDS = tuple(AssetFields.model_fields)
INDICATORS = ("rms", "peak", "crest_factor", "kurtosis", "velocity_rms")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AssetRef(Out):
    id: int
    name: str


class LimitsOut(Out):
    """Zone limits in effect: upper velocity RMS (mm/s) of zones A, B, C and where they come from."""

    ab: float
    bc: float
    cd: float
    source: str


class ModelRef(Out):
    name: str
    version: str


class IndicatorsOut(Out):
    rms: float
    peak: float
    crest_factor: float
    kurtosis: float
    velocity_rms: float


class DiagnosisOut(Out):
    """One stored diagnosis of one signal."""

    id: int
    asset_id: int
    measured_at: datetime
    received_at: datetime
    signal_index: int
    model: ModelRef
    fault_type: str
    label: str
    severity: str | None
    confidence: float
    unknown_score: float | None
    type_probabilities: dict[str, float]
    indicators: IndicatorsOut
    zone: str | None
    rpm: float | None
    rpm_source: str | None
    sampling_rate: float
    defect_frequencies_hz: dict[str, float] | None


class AssetStatus(Out):
    """Diagnoses stored, open alarms, the latest diagnosis and its zone."""

    diagnoses: int
    open_alarms: int
    latest: DiagnosisOut | None
    zone: str | None


class BaselineSummary(Out):
    """What an asset's healthy baseline holds: recordings, windows, the speeds (rpm) they cover."""

    recordings: int = 0
    windows: int = 0
    speeds_rpm: list[float | None] = Field(default_factory=list)
    model: ModelRef | None = None
    added_at: list[datetime] = Field(default_factory=list)


class AssetOut(AssetFields):
    """An asset as stored, with its effective zone limits (its own, or its ISO group's)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    limits: LimitsOut | None
    created_at: datetime
    updated_at: datetime
    status: AssetStatus | None = None
    baseline: BaselineSummary | None = None


class AssetPage(Out):
    """One page of assets by name; ``next_cursor`` (the last name on the page) asks for the next one."""

    assets: list[AssetOut]
    limit: int
    next_cursor: str | None


class AlarmPage(Out):
    """One page of alarms, newest first; ``next_cursor`` (the id of the last alarm on the page) asks for the
    next one."""

    alarms: list[AlarmOut]
    limit: int
    next_cursor: str | None


class DiagnosisPage(Out):
    asset: AssetRef
    total: int
    limit: int
    offset: int
    items: list[DiagnosisOut]


class AlarmOut(Out):
    id: int
    asset_id: int
    asset: str | None
    kind: str
    key: str
    level: str
    message: str
    state: str
    opened_at: datetime
    opened_by: int | None
    closed_at: datetime | None
    closed_by: int | None
    acknowledged_at: datetime | None
    note: str | None


class TrendSeries(Out):
    """The latest points of an asset's diagnoses, oldest first, one list per quantity."""

    measured_at: list[datetime]
    rms: list[float | None]
    peak: list[float | None]
    crest_factor: list[float | None]
    kurtosis: list[float | None]
    velocity_rms: list[float | None]
    zone: list[str | None]
    fault_type: list[str]
    confidence: list[float | None]
    unknown_score: list[float | None]
    probabilities: dict[str, list[float | None]]


class DailyAggregate(Out):
    """One UTC day of an asset's diagnoses, aggregated by the database."""

    day: str
    count: int
    velocity_rms_mean: float
    velocity_rms_max: float
    kurtosis_mean: float
    zone_worst: str | None
    probabilities_mean: dict[str, float]
    fault_types: dict[str, int]


class Trend(Out):
    asset: AssetRef
    limits: LimitsOut | None
    count: int
    series: TrendSeries
    daily: list[DailyAggregate]
    alarms: list[AlarmOut]


class Recorded(Out):
    """What storing a request's diagnoses did: their ids and zones, and the alarms opened and closed."""

    asset: AssetRef
    diagnosis_ids: list[int]
    zones: list[str | None]
    replayed: bool = False
    alarms_opened: list[AlarmOut] = Field(default_factory=list)
    alarms_closed: list[AlarmOut] = Field(default_factory=list)
    open_alarms: list[AlarmOut] = Field(default_factory=list)


class BaselineRecording(Out):
    """One stored healthy recording: its context and how many windows it gave."""

    id: int
    added_at: datetime
    rpm: float | None
    sampling_rate: float
    windows: int
    model: ModelRef


class BaselineOut(Out):
    """An asset's healthy baseline: a summary and its recordings (their features stay in the database)."""

    asset: AssetRef
    summary: BaselineSummary
    items: list[BaselineRecording]
