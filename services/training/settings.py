"""Settings of the training service (env prefix ``CG_TRAINING_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from clustergrowth.settings import ServiceSettings


class TrainingSettings(ServiceSettings):
    """What only the training service reads."""

    model_config = SettingsConfigDict(env_prefix="CG_TRAINING_", extra="ignore")

    database: str = "training"
    invite_every_s: float = 60.0  # how often plans past their due date are looked for
