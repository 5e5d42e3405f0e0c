"""One settings tree for the whole rApp.

Every value has an embedded default that runs the loop on one machine against the simulators
(`make demo`). Override with environment variables (prefix ``RAPP_``, ``__`` between levels, e.g.
``RAPP_A1__URL=http://a1pms:8081``) or a YAML file (``rapp serve --config rapp.yaml``, or
``RAPP_CONFIG``). Precedence: init arguments, environment, YAML file, defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from rapp.settings_loop import (
    EnactSettings,
    ForecastSettings,
    HealingSettings,
    ModelSettings,
    PlannerSettings,
    PolicySettings,
    RolloutSettings,
    TelemetrySettings,
    TopologySettings,
    WatchSettings,
)
from rapp.settings_peers import (
    A1Settings,
    ApiSettings,
    FieldCopy,
    IcsSettings,
    KafkaSettings,
    NephioSettings,
    PackageMutation,
    PorchSettings,
    ResourceRef,
    SmeSettings,
    StoreSettings,
    VesSettings,
)

__all__ = [
    "A1Settings",
    "ApiSettings",
    "EnactSettings",
    "FieldCopy",
    "ForecastSettings",
    "HealingSettings",
    "IcsSettings",
    "KafkaSettings",
    "ModelSettings",
    "NephioSettings",
    "PackageMutation",
    "PlannerSettings",
    "PolicySettings",
    "PorchSettings",
    "ResourceRef",
    "RolloutSettings",
    "Settings",
    "SmeSettings",
    "StoreSettings",
    "TelemetrySettings",
    "TopologySettings",
    "VesSettings",
    "WatchSettings",
]


class Settings(BaseSettings):
    """The rApp's configuration; see the module docstring for where values come from."""

    model_config = SettingsConfigDict(env_prefix="RAPP_", env_nested_delimiter="__", extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    ves: VesSettings = Field(default_factory=VesSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    ics: IcsSettings = Field(default_factory=IcsSettings)
    sme: SmeSettings = Field(default_factory=SmeSettings)
    a1: A1Settings = Field(default_factory=A1Settings)
    nephio: NephioSettings = Field(default_factory=NephioSettings)
    topology: TopologySettings = Field(default_factory=TopologySettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    healing: HealingSettings = Field(default_factory=HealingSettings)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    enact: EnactSettings = Field(default_factory=EnactSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    log_level: str = "INFO"
    stop_timeout_s: float = Field(default=20.0, ge=0)
    """How long SIGTERM waits for the batch in hand to be decided and committed before the
    process stops anyway; keep it well inside the pod's terminationGracePeriodSeconds."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, YamlConfigSettingsSource(settings_cls)

    @classmethod
    def load(cls, config_file: Path | None = None) -> Settings:
        """Settings from the environment and a YAML file (``config_file`` or ``$RAPP_CONFIG``)."""
        path = config_file or (
            Path(os.environ["RAPP_CONFIG"]) if "RAPP_CONFIG" in os.environ else None
        )
        if path is None:
            return cls()
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")

        class FromFile(cls):  # type: ignore[valid-type,misc]
            model_config = SettingsConfigDict(**{**cls.model_config, "yaml_file": path})

        return FromFile()
