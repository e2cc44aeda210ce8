"""Settings of the credentials (env prefix ``CG_TRAINING_CREDENTIAL_``), read when the part is attached."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CredentialSettings(BaseSettings):
    """How this region signs the Open Badges it issues, and where they point to."""

    model_config = SettingsConfigDict(env_prefix="CG_TRAINING_CREDENTIAL_", extra="ignore")

    key_file: Path | None = Field(
        None,
        description="the region's Ed25519 signing key (PKCS#8 PEM); unset: a development key generated "
        "under $CG_DATA_DIR/training-credentials/ (refused when CG_ENVIRONMENT=production)",
    )
    base_url: str = Field(
        "http://localhost:8000/api/v1/training",
        pattern=r"^https?://[^\s#?]{1,300}$",
        description="public URL of the training API: the issuer, its keys and the status list are named from it",
    )
    issuer_name: str | None = Field(None, max_length=200, description="the issuer's name in badges")
    valid_years: int = Field(5, ge=1, le=50, description="a badge's validity (validUntil, the JWT's exp)")
