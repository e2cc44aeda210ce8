"""Settings of the facilities service (env prefix ``CG_FACILITIES_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from clustergrowth.settings import ServiceSettings


class FacilitiesSettings(ServiceSettings):
    """What only the facilities service reads."""

    model_config = SettingsConfigDict(env_prefix="CG_FACILITIES_", extra="ignore")

    database: str = "facilities"
