"""Settings of how the loop behaves, from PM reports in to enactment: telemetry ingestion
and the watched directory, topology, models and forecasts, the planner, gradual rollout,
healing, the policy set and enactment.

Sections of :class:`rapp.config.Settings`; import them from :mod:`rapp.config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from rapp.domain import PRB_UTIL_DL


class TelemetrySettings(BaseModel):
    counter_maps: list[Path] = Field(default_factory=list)
    """Operator YAML tables mapping vendor counter names to TS 28.552 names, applied after the
    shipped one (later files win)."""
    archive_dir: Path | None = None
    """Where every ingested KPI row is kept as Parquet (a folder per day) for retraining with
    ``rapp export telemetry``; None keeps nothing."""
    archive_days: int = Field(default=14, ge=1)
    """Days of archive kept, counted back from the newest period end written."""


class WatchSettings(BaseModel):
    """A directory of PM files (3GPP XML, ranpm JSON, gzip or not) to ingest as they arrive."""

    directory: Path | None = None
    pattern: str = "*.xml*"
    poll_interval: float = 2.0
    done_dir: Path | None = None
    failed_dir: Path | None = None


class TopologySettings(BaseModel):
    """How a cell DN maps to the NF package that serves it."""

    target_pattern: str = r"SubNetwork=(?P<site>[^,]+)"
    """Regular expression over the cell DN; its named groups feed ``target_template``."""
    target_template: str = "free5gc-upf-{site}"


class ModelSettings(BaseModel):
    root: Path = Path("models")
    """The model registry (``rapp models list``): a folder per model name and version."""
    forecaster: str = "forecaster"
    """Registry name of the forecaster the loop serves; while it has no champion (or the
    champion cannot forecast the planner's KPI and quantile), the seasonal baseline, refitted
    on live history, stands in."""
    detector: str = "detector"
    """Registry name of the anomaly detector scored every decided ROP (its incidents are on
    ``/api/v1/anomalies``); without a champion nothing is scored."""
    shadow: str | None = None
    """A forecaster version run beside the champion: its forecasts are planned and logged,
    never enacted, so it can be judged on live data before promotion."""
    detector_shadow: str | None = None
    """A detector version scored beside the champion: its incidents, and the heals they would
    cause, are logged and counted, never acted on."""
    check_every_s: float = Field(default=30.0, gt=0)
    """How often the champion pointer is looked at: a promotion is served within this time."""


class ForecastSettings(BaseModel):
    season: int = 96
    """Season length in ROPs (96 = one day of 15-minute ROPs)."""
    n_seasons: int = 2
    horizon: int = 4
    """Forecast steps in ROPs (4 = one hour of 15-minute ROPs)."""
    fit_window: int = 288
    """ROPs of history the model is fitted on."""
    refit_every: int = 24
    """ROPs between refits."""


class PlannerSettings(BaseModel):
    kpi: str = PRB_UTIL_DL
    quantile: float = 0.9
    high: float = 80.0
    """Scale out when the forecast quantile of any cell of an NF goes above this (percent)."""
    low: float = 30.0
    """Scale in when the forecast quantile of every cell of an NF stays below this (percent)."""
    cooldown_rops: int = 4
    ladder: list[str] = Field(default_factory=lambda: ["1250M", "2500M", "5G", "10G", "20G", "40G"])
    """Capacity steps (Kubernetes quantities); each step at most doubles or halves."""
    default_capacity: str = "5G"

    @model_validator(mode="after")
    def _band(self) -> PlannerSettings:
        if self.low >= self.high:
            raise ValueError(f"planner.low ({self.low}) must be below planner.high ({self.high})")
        if not 0 < self.quantile < 1:
            raise ValueError(f"planner.quantile ({self.quantile}) must be between 0 and 1")
        if self.default_capacity not in self.ladder:
            raise ValueError(
                f"planner.default_capacity {self.default_capacity} is not on the ladder"
                f" {self.ladder}"
            )
        return self


class RolloutSettings(BaseModel):
    """Gradual rollout of a ROP's many scaling decisions: a canary first (see rapp/rollout.py)."""

    enabled: bool = False
    min_wave: int = Field(default=4, ge=2)
    """Scaling decisions allowed in one ROP from which a canary is taken; fewer all go at once."""
    canary_fraction: float = Field(default=0.25, gt=0, lt=1)
    canary_rops: int = Field(default=4, ge=1)
    """ROPs the canary runs before it is judged and the rest released or dropped."""
    kpis: dict[str, Literal["higher", "lower"]] = Field(
        default_factory=lambda: {"thp_dl": "higher"}
    )
    """KPIs compared between the canary's cells and the held decisions' cells, each with the
    direction that is better."""
    tolerance: float = Field(default=0.1, ge=0)
    """How much worse (relative) the canary may do than the control before it is rolled back."""


class HealingSettings(BaseModel):
    """When incidents (sleeping cells, faults) become heal decisions, and for which NF."""

    enabled: bool = True
    target_pattern: str = r"SubNetwork=(?P<site>[^,]+),ManagedElement=(?P<gnb>[^,]+)"
    """Regular expression over the cell DN; its named groups feed ``target_template``."""
    target_template: str = "du-{gnb}"
    """The NF that heals a cell: the gNB-DU serving it, not the UPF that scaling targets."""
    min_rops: int = Field(default=2, ge=1)
    """Flagged ROPs an incident must last before it is healed."""
    cooldown_rops: int = Field(default=8, ge=0)
    """ROPs between two heal decisions for the same NF."""
    max_cells: int = Field(default=2, ge=1)
    """Cells of one NF healed in one decision, the highest scores first; keep it at or below
    the policy set's ``max_heal_cells`` for the NF's class, or the heal is denied."""


class PolicySettings(BaseModel):
    directory: Path = Path("policies")
    """The policy set (``*.rego``, ``*_test.rego``, ``data.json``): a ConfigMap mount in a pod."""
    bundle: Path | None = None
    """An OPA bundle (``.tar.gz``) to judge with instead of ``directory``."""
    query: str = "data.rapp.scaling.verdict"
    opa_url: str | None = None
    """An OPA server (a sidecar, e.g. ``http://127.0.0.1:8181``) to judge with over its REST
    Data API instead of the embedded engine; the rApp pushes the tested set to it."""
    opa_timeout_s: float = Field(default=1.0, gt=0)
    timeout_s: float | None = Field(default=1.0, gt=0)
    """The embedded engine's deadline per decision: a set that runs longer denies it (fail
    closed) instead of holding the loop. The engine then judges in a child process, killed and
    replaced on a deadline (regorus cannot be interrupted otherwise). None judges in process,
    with no deadline."""
    reload_every_s: float = Field(default=5.0, gt=0)
    """How often the source is looked at; a changed set is tested before it judges anything."""


class EnactSettings(BaseModel):
    system_database_url: str = "sqlite:///var/dbos.sqlite"
    """DBOS system database: SQLite for one replica, PostgreSQL for several."""
    executor_id: str = "local"
    """Stable per replica (e.g. the StatefulSet pod name): recovery resumes this id's workflows."""
    mode: Literal["enact", "dry-run", "shadow"] = "enact"
    """``enact`` carries decisions out. ``dry-run`` runs each enactment with every read and
    check against the live peers (A1 policy and type, the package edit) but no write, and
    journals what it would have done. ``shadow`` touches no peer at all: decisions are judged
    and journalled beside whatever really runs the network, and the capacity the planner
    believes is re-read from the packages, not assumed."""
    concurrency: int | None = Field(default=16, ge=1)
    """Enactments in flight at once, across every replica (DBOS global queue concurrency).
    Each one calls both the A1-PMS and Nephio, so this bounds the load on each peer."""
    rate_per_s: float | None = Field(default=None, gt=0)
    """Enactments started per second across every replica (DBOS queue rate limiter); None:
    no limit beyond ``concurrency``."""
    breaker_threshold: int = Field(default=5, ge=1)
    """Transient failures in a row after which a peer's circuit opens: its calls then fail at
    once and decisions wait durably instead of adding load."""
    breaker_cooldown_s: float = Field(default=30.0, ge=0)
    """How long an open circuit stays open before one call probes the peer again."""
