"""Runtime settings shared by every service of a regional instance (env prefix ``CG_``)."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_ISSUER = "urn:clustergrowth:dev-issuer"
NUTS2 = re.compile(r"^[A-Z]{2}[0-9A-Z]{2}$")


class TrustedIssuer(BaseModel):
    """A partner region's OpenID Connect issuer whose people may act here, with the roles granted here."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(description="its iss; discovery reads <issuer>/.well-known/openid-configuration")
    region: str = Field(description="NUTS-2 code of the partner region (its people's home region)")
    jwks_uri: str | None = Field(None, description="skip discovery and read keys here")
    jwks_file: Path | None = Field(None, description="or read keys from a file (no network)")
    roles: dict[str, list[str]] = Field(
        default_factory=dict, description="role in the partner's token -> roles granted here; others are dropped"
    )
    audience: str | None = Field(None, description="expected aud, if not this gateway's audience")

    @field_validator("region")
    @classmethod
    def _nuts2(cls, v: str) -> str:
        if not NUTS2.match(v):
            raise ValueError("must be a NUTS-2 code such as ITH5")
        return v


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
    auth_jwks_file: Path | None = Field(None, description="JWKS of the home issuer as a file (else fetched)")
    auth_jwks_uri: str | None = Field(None, description="JWKS of the home issuer (else found by OIDC discovery)")
    auth_partners: list[TrustedIssuer] = Field(default_factory=list, description="partner regions' issuers")
    auth_organisations: list[str] = Field(
        default_factory=list,
        max_length=10_000,
        description="organisation claims of the home issuer registered in this region; empty: every claim",
    )
    auth_jwks_cache_s: float = Field(600, gt=0, description="how long fetched keys are trusted before refetch")
    auth_jwks_min_refresh_s: float = Field(
        30, ge=0, description="a token with an unknown kid refetches keys at most this often"
    )
    environment: Literal["development", "production"] = Field(
        "development", description="production refuses the development issuer"
    )
    auth_algorithms: list[str] = ["ES256", "RS256"]
    relay_interval_s: float = Field(0.5, gt=0, description="outbox relay poll when not woken by a write")
    consumer_retries: int = Field(3, ge=0)
    seed_demo: bool = True
    log_level: str = "INFO"
    log_json: bool = True
    http_max_head_bytes: int = Field(
        64 << 10, ge=4096, le=1 << 20, description="a larger request head (line and header fields) gets 431"
    )
    http_max_headers: int = Field(100, ge=16, le=1000, description="a request with more header fields gets 431")
    http_max_request_line_bytes: int = Field(
        8 << 10, ge=1024, le=1 << 20, description="a longer request line (method, target, version) gets 414"
    )
    http_head_timeout_s: float = Field(
        10.0,
        ge=0.1,
        le=300,
        allow_inf_nan=False,
        description="a request head not complete this long after its first byte (a new connection's: after the "
        "accept) gets 408",
    )
    http_max_body_bytes: int = Field(
        1_000_000,
        ge=1024,
        description="a larger request body gets 413 (a service's own app; the gateway's is CG_GATEWAY_MAX_BODY_BYTES)",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="addresses or networks whose X-Forwarded-For/-Proto are believed (JSON list or commas); "
        "empty: none",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            return json.loads(v) if v.startswith("[") else [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, v: list[str]) -> list[str]:
        out = []
        for p in v:
            try:
                out.append(str(ipaddress.ip_network(p, strict=False) if "/" in p else ipaddress.ip_address(p)))
            except ValueError:
                raise ValueError(f"{p!r} is not an IP address or network (CIDR); '*' is not accepted") from None
        return out

    @model_validator(mode="after")
    def _request_line_within_head(self) -> RuntimeSettings:
        if self.http_max_request_line_bytes > self.http_max_head_bytes:
            raise ValueError("http_max_request_line_bytes cannot exceed http_max_head_bytes (the line is in the head)")
        return self

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
    def _production_needs_a_real_issuer(self) -> RuntimeSettings:
        if self.environment == "production" and self.auth_issuer == DEV_ISSUER:
            raise ValueError(
                "environment=production needs a real auth_issuer (OpenID Connect); the development issuer is off"
            )
        if DEV_ISSUER in {p.issuer for p in self.auth_partners}:
            raise ValueError("the development issuer cannot be a partner issuer")
        regions = [p.region for p in self.auth_partners]
        if self.region in regions or len(set(regions)) != len(regions):
            raise ValueError(
                "auth_partners: each partner issuer needs its own region, other than this one "
                "(organisations are namespaced by their issuer's region)"
            )
        issuers = [p.issuer for p in self.auth_partners]
        if self.auth_issuer in issuers or len(set(issuers)) != len(issuers):
            raise ValueError("auth_partners: each issuer once, and not the home issuer")
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
