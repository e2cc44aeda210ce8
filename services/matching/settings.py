"""Settings of the matching service (env prefix ``CG_MATCHING_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from clustergrowth.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    """What only the matching service reads."""

    model_config = SettingsConfigDict(env_prefix="CG_MATCHING_", extra="ignore")

    database: str = "matching"
    proposal_ttl_hours: float = Field(7 * 24, gt=0, description="default time a proposal stays open")
    sweep_interval_s: float = Field(30.0, gt=0, description="how often lapsed proposals are expired")
    draft_need_below: float = Field(
        2.5, ge=1, le=5, description="an SMEAssessed whose greatest need scores below this suggests a draft"
    )
