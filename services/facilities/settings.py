"""Settings of the facilities service (env prefix ``CG_FACILITIES_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from clustergrowth.settings import ServiceSettings


class FacilitiesSettings(ServiceSettings):
    """What only the facilities service reads."""

    model_config = SettingsConfigDict(env_prefix="CG_FACILITIES_", extra="ignore")

    database: str = "facilities"
    offer_claim_minutes: int = Field(
        30,
        ge=1,
        le=24 * 60,
        description="how long a waitlist offer is held (at most half the time left before its slot)",
    )
    offer_min_claim_minutes: int = Field(
        5, ge=1, le=24 * 60, description="the shortest a waitlist offer is held, however near its slot's start"
    )
    sweep_interval_s: float = Field(
        30.0, gt=0, le=3600, description="how often due offers lapse and no-shows are released"
    )
