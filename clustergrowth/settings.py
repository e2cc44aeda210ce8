"""Runtime settings shared by every service of a regional instance (env prefix ``CG_``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_ISSUER = "urn:clustergrowth:dev-issuer"
NUTS2 = re.compile(r"^[A-Z]{2}[0-9A-Z]{2}$")


class RuntimeSettings(BaseSettings):
    """Where state and events live, who we trust, and which region we are."""

    model_config = SettingsConfigDict(env_prefix="CG_", extra="ignore")

    region: str = Field("IE05", description="NUTS-2 code of the hosting partner region")
    data_dir: Path = Field(Path(".data"), description="embedded mode: SQLite store, event log, dev keys")
    store: Literal["sqlite", "mongo"] = "sqlite"
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_write_locks: bool = Field(
        False, description="lock each compare-and-set; required on FerretDB v1, whose updates are not atomic"
    )
    bus: Literal["sqlite", "kafka"] = "sqlite"
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = Field("", pattern=r"^[A-Za-z0-9._-]*$", description="namespace when instances share a cluster")
    kafka_partitions: int = Field(3, ge=1)
    kafka_replication: int = Field(1, ge=1)
    auth_issuer: str = Field(DEV_ISSUER, description="trusted token issuer (iss)")
    auth_audience: str = "clustergrowth"
    auth_jwks_file: Path | None = Field(None, description="JWKS of a production issuer")
    auth_algorithms: list[str] = ["ES256", "RS256"]
    relay_interval_s: float = Field(0.5, gt=0, description="outbox relay poll when not woken by a write")
    consumer_retries: int = Field(3, ge=0)
    seed_demo: bool = True
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("region")
    @classmethod
    def _nuts2(cls, v: str) -> str:
        if not NUTS2.match(v):
            raise ValueError("must be a NUTS-2 code such as IE05")
        return v

    @field_validator("auth_algorithms")
    @classmethod
    def _no_weak_algorithms(cls, v: list[str]) -> list[str]:
        allowed = {"ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "EdDSA"}
        bad = [a for a in v if a not in allowed]
        if bad:
            raise ValueError(f"algorithms not allowed: {bad} (no 'none', no shared-secret HS*)")
        return v

    @model_validator(mode="after")
    def _production_issuer_needs_keys(self) -> RuntimeSettings:
        if self.auth_issuer != DEV_ISSUER and self.auth_jwks_file is None:
            raise ValueError("a production auth_issuer needs auth_jwks_file (its public keys)")
        return self

    def topic(self, name: str) -> str:
        """The broker topic for a logical topic name such as ``facilities.events``."""
        return f"{self.topic_prefix}{name}"

    @property
    def dev_issuer(self) -> bool:
        """True when tokens are signed by the embedded development issuer."""
        return self.auth_issuer == DEV_ISSUER


class ServiceSettings(BaseSettings):
    """What every service reads under its own prefix (``CG_<SERVICE>_``): its database and which loops run."""

    database: str
    run_consumers: bool = True
    run_relay: bool = True
