"""Settings of the mapping service (env prefix ``CG_MAPPING_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MappingSettings(BaseSettings):
    """What only the mapping service reads; star thresholds default to the classic ECO values."""

    model_config = SettingsConfigDict(env_prefix="CG_MAPPING_", extra="ignore")

    database: str = "mapping"
    run_consumers: bool = True
    run_relay: bool = True
    size_top_share: float = Field(0.10, gt=0, le=1)
    min_location_quotient: float = Field(2.0, gt=0)
    focus_top_share: float = Field(0.10, gt=0, le=1)
