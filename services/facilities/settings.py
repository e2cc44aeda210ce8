"""Settings of the facilities service (env prefix ``CG_FACILITIES_``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class FacilitiesSettings(BaseSettings):
    """What only the facilities service reads."""

    model_config = SettingsConfigDict(env_prefix="CG_FACILITIES_", extra="ignore")

    database: str = "facilities"
    run_consumers: bool = True
    run_relay: bool = True
