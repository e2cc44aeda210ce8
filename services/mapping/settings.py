"""Settings of the mapping service (env prefix ``CG_MAPPING_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from clustergrowth.settings import ServiceSettings


class MappingSettings(ServiceSettings):
    """What only the mapping service reads; star thresholds default to the classic ECO values."""

    model_config = SettingsConfigDict(env_prefix="CG_MAPPING_", extra="ignore")

    database: str = "mapping"
    size_top_share: float = Field(0.10, gt=0, le=1)
    min_location_quotient: float = Field(2.0, gt=0)
    focus_top_share: float = Field(0.10, gt=0, le=1)
