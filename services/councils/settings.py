"""Settings of the councils service (env prefix ``CG_COUNCILS_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from clustergrowth.settings import ServiceSettings


class CouncilsSettings(ServiceSettings):
    """What only the councils service reads."""

    model_config = SettingsConfigDict(env_prefix="CG_COUNCILS_", extra="ignore")

    database: str = "councils"
