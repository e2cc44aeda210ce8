"""What a region sets for its web client (env prefix ``CG_WEB_``): branding, languages, the API it
talks to, the session key and, in production, its OpenID Connect client."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LANGUAGES = ("en", "es", "it", "fr", "tr")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of #rrggbb."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two colours (1 to 21)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


class WebSettings(BaseSettings):
    """A region's web client: its name, logo, colours and default language, and how it reaches the API."""

    model_config = SettingsConfigDict(env_prefix="CG_WEB_", extra="ignore")

    name: str = Field("SME Cluster Growth", min_length=1, max_length=80, description="the region's client name")
    logo_url: str | None = Field(
        None, max_length=500, pattern=r"^(/static/|https://)\S+$", description="logo (https:// or /static/...)"
    )
    colour_primary: str = Field("#0b4f8a", description="header and buttons (#rrggbb; white text must read on it)")
    colour_accent: str = Field("#f2b705", description="focus ring and highlights (#rrggbb)")
    default_language: Literal["en", "es", "it", "fr", "tr"] = "en"
    api_url: str | None = Field(
        None,
        pattern=r"^https?://[^/\s]+$",
        description="distributed mode: the gateway's URL; unset: the API of this process, in-process (ASGI)",
    )
    secret_key: str | None = Field(
        None, min_length=32, description="signs session cookies; unset in development: a key kept under the data dir"
    )
    session_max_age_s: int = Field(8 * 3600, ge=300, le=7 * 24 * 3600, description="a session lasts this long")
    oidc_discovery_url: str | None = Field(
        None, pattern=r"^https://\S+$", description="the issuer's /.well-known/openid-configuration"
    )
    oidc_client_id: str | None = Field(None, max_length=200)
    oidc_client_secret: str | None = Field(None, max_length=500, description="confidential clients only")
    oidc_scope: str = "openid profile"
    api_timeout_s: float = Field(10.0, gt=0, le=120)

    @field_validator("colour_primary", "colour_accent")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not COLOUR.match(v):
            raise ValueError("a colour is #rrggbb")
        return v.lower()

    @field_validator("colour_primary")
    @classmethod
    def _readable(cls, v: str) -> str:
        if contrast(v, "#ffffff") < 4.5:
            raise ValueError(f"white text on {v} has contrast {contrast(v, '#ffffff'):.2f}; WCAG AA needs 4.5")
        return v

    @property
    def oidc(self) -> bool:
        """True when sign-in goes through the region's OpenID Connect issuer."""
        return bool(self.oidc_discovery_url and self.oidc_client_id)
