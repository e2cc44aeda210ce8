"""Runtime settings shared by every service of a regional instance (env prefix ``CG_``)."""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_ISSUER = "urn:clustergrowth:dev-issuer"
NUTS2 = re.compile(r"^[A-Z]{2}[0-9A-Z]{2}$")
# Passwords production refuses: vendors' and examples' defaults (compared case-insensitively), and any
# shorter than MIN_SECRET_CHARS.
DEFAULT_PASSWORDS = frozenset(
    {"", "admin", "changeme", "change-me", "changeit", "clustergrowth", "default", "example", "guest", "kafka",
     "mongo", "mongodb", "password", "password123", "redis", "root", "secret", "test", "admin-secret"}
)  # fmt: skip
MIN_SECRET_CHARS = 12
MAX_SECRET_CHARS = 1024


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
    api_base: str | None = Field(None, description="the partner's public API base (where its resources are booked)")

    @field_validator("region")
    @classmethod
    def _nuts2(cls, v: str) -> str:
        if not NUTS2.match(v):
            raise ValueError("must be a NUTS-2 code such as ITH5")
        return v


class RuntimeSettings(BaseSettings):
    """Where state and events live, who we trust, and which region we are."""

    # hide_input_in_errors: a bad configuration's message never repeats what was given (secrets among it)
    model_config = SettingsConfigDict(env_prefix="CG_", extra="ignore", hide_input_in_errors=True)

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
    # Transport security and credentials. Secrets are SecretStr: never in repr, logs, /readyz or errors.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="SSL or SASL_SSL in production"
    )
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) the brokers' certificates chain to")
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate (PEM) for mutual TLS")
    kafka_ssl_keyfile: Path | None = Field(None, description="its private key (PEM)")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, max_length=MAX_SECRET_CHARS, description="the private key's passphrase"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = Field(None, max_length=256)
    kafka_sasl_password: SecretStr | None = Field(None, max_length=MAX_SECRET_CHARS)
    mongo_username: str | None = Field(None, max_length=256, description="or in CG_MONGO_URL; the password never is")
    mongo_password: SecretStr | None = Field(None, max_length=MAX_SECRET_CHARS)
    mongo_auth_source: str | None = Field(
        None, max_length=64, description="authentication database (the URL's, else admin)"
    )
    mongo_tls: bool = Field(False, description="TLS to MongoDB (also on with tls=true in the URL, or mongodb+srv)")
    mongo_tls_ca_file: Path | None = Field(None, description="CA bundle (PEM) for MongoDB's certificate")
    mongo_tls_certificate_key_file: Path | None = Field(None, description="client certificate and key (PEM)")
    redis_username: str | None = Field(None, max_length=256, description="Redis ACL user of the shared quota store")
    redis_password: SecretStr | None = Field(
        None, max_length=MAX_SECRET_CHARS, description="its password (never in the rediss:// URL)"
    )
    redis_ca_file: Path | None = Field(None, description="CA bundle (PEM) for a rediss:// quota store")
    auth_issuer: str = Field(DEV_ISSUER, description="trusted token issuer (iss)")
    auth_audience: str = "clustergrowth"
    auth_jwks_file: Path | None = Field(None, description="JWKS of the home issuer as a file (else fetched)")
    auth_jwks_uri: str | None = Field(None, description="JWKS of the home issuer (else found by OIDC discovery)")
    auth_partners: list[TrustedIssuer] = Field(default_factory=list, description="partner regions' issuers")
    network_stale_after_s: float = Field(
        900,
        gt=0,
        le=30 * 86400,
        description="a partner region silent this long (no replicated event) is shown stale, with the last one's time",
    )
    partners_file: Path | None = Field(
        None,
        description="TOML file of this region's partners ([[partners]]: region, issuer, jwks_uri, roles, api_base)",
    )
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
    cpu_niceness: int = Field(
        0,
        ge=0,
        le=19,
        description="`clustergrowth run` lowers its CPU priority by this much at start (nice); for a worker of "
        "relays and consumers beside the API on one host, so that requests get the cores first",
    )
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

    @field_validator("auth_jwks_uri", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        """An empty CG_AUTH_JWKS_URI (Compose's ``${CG_AUTH_JWKS_URI:-}``) means discovery, as unset does."""
        return None if isinstance(v, str) and not v.strip() else v

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

    @field_validator("mongo_url")
    @classmethod
    def _no_password_in_mongo_url(cls, v: str) -> str:
        if ":" in _userinfo(v):
            raise ValueError("carries a password: put it in CG_MONGO_PASSWORD (a URL gets printed, a secret never)")
        return v

    @property
    def mongo_tls_on(self) -> bool:
        """TLS to MongoDB: the setting, the URL's tls/ssl option, or an SRV URL (TLS by default)."""
        query = self.mongo_url.partition("?")[2].lower().split("&")
        return (
            self.mongo_tls or self.mongo_url.startswith("mongodb+srv://") or bool({"tls=true", "ssl=true"} & set(query))
        )

    @model_validator(mode="after")
    def _transport_security(self) -> RuntimeSettings:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                f"kafka_security_protocol={self.kafka_security_protocol} needs CG_KAFKA_SASL_USERNAME and "
                "CG_KAFKA_SASL_PASSWORD"
            )
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password):
            raise ValueError("CG_KAFKA_SASL_USERNAME/PASSWORD are set but kafka_security_protocol is not SASL_*")
        tls_files = (self.kafka_ssl_cafile, self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        if not self.kafka_security_protocol.endswith("SSL") and any(tls_files):
            raise ValueError("CG_KAFKA_SSL_* files are set but kafka_security_protocol is not SSL or SASL_SSL")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("CG_KAFKA_SSL_CERTFILE and CG_KAFKA_SSL_KEYFILE go together (mutual TLS)")
        if self.mongo_password is not None and not (self.mongo_username or _userinfo(self.mongo_url)):
            raise ValueError("CG_MONGO_PASSWORD needs CG_MONGO_USERNAME (or a user in CG_MONGO_URL)")
        if (self.redis_username is not None) and self.redis_password is None:
            raise ValueError("CG_REDIS_USERNAME needs CG_REDIS_PASSWORD")
        if self.environment == "production":
            problems = self._production_problems()
            if problems:
                raise ValueError("environment=production refuses: " + "; ".join(problems))
        return self

    def _production_problems(self) -> list[str]:
        """Plaintext or default credentials to the backends in use, each naming its setting."""
        out = []
        if self.bus == "kafka":
            if self.kafka_security_protocol not in ("SSL", "SASL_SSL"):
                out.append(
                    f"CG_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} is plaintext: use SSL or SASL_SSL"
                )
            if self.kafka_security_protocol == "SASL_SSL" and weak_secret(self.kafka_sasl_password):
                out.append(f"CG_KAFKA_SASL_PASSWORD is a default or shorter than {MIN_SECRET_CHARS} characters")
            if self.kafka_security_protocol == "SSL" and self.kafka_ssl_certfile is None:
                out.append("CG_KAFKA_SSL_CERTFILE: with SSL and no SASL, the client authenticates by certificate")
        if self.store == "mongo":
            if not self.mongo_tls_on:
                out.append("CG_MONGO_TLS is off (and CG_MONGO_URL has no tls=true): MongoDB would be plaintext")
            if self.mongo_tls_certificate_key_file is None:
                if not (self.mongo_username or _userinfo(self.mongo_url)):
                    out.append("CG_MONGO_USERNAME: MongoDB without authentication")
                elif weak_secret(self.mongo_password):
                    out.append(f"CG_MONGO_PASSWORD is unset, a default or shorter than {MIN_SECRET_CHARS} characters")
        return out

    def redis_problems(self, url: str, setting: str = "CG_GATEWAY_RATE_STORE_URL") -> list[str]:
        """What is wrong with a Redis URL under these settings (a password in it; in production: plaintext,
        no or a default password), each naming its setting; empty when it may be used."""
        out = []
        if ":" in _userinfo(url):
            out.append(f"{setting} carries a password: put it in CG_REDIS_PASSWORD (a URL gets printed)")
        if self.environment == "production":
            if not url.startswith("rediss://"):
                out.append(f"{setting} is plaintext: use rediss:// (TLS) in production")
            if weak_secret(self.redis_password):
                out.append(f"CG_REDIS_PASSWORD is unset, a default or shorter than {MIN_SECRET_CHARS} characters")
        return out

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
                "CG_AUTH_ISSUER is unset or the development issuer: environment=production needs a real auth_issuer "
                "(the region's OpenID Connect issuer); the development issuer is off"
            )
        if self.partners_file is not None:
            self.auth_partners = [
                *self.auth_partners,
                *load_partners(self.partners_file, self.region, self.auth_issuer),
            ]
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


def weak_secret(secret: SecretStr | None) -> bool:
    """No password, a well-known default, or one too short to be anything but a placeholder."""
    if secret is None:
        return True
    value = secret.get_secret_value()
    return value.lower() in DEFAULT_PASSWORDS or len(value) < MIN_SECRET_CHARS


def _userinfo(url: str) -> str:
    """The ``user[:password]`` of a URL (``scheme://userinfo@hosts/...``), or ''."""
    rest = url.partition("://")[2]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return authority.rpartition("@")[0]


class ServiceSettings(BaseSettings):
    """What every service reads under its own prefix (``CG_<SERVICE>_``): its database and which loops run."""

    database: str
    run_consumers: bool = True
    run_relay: bool = True


# One configuration file per region lists its partners; each entry is checked at start and a refusal names
# the entry and the field (``partners[2].issuer: not an https URL``; entries counted from 0, as the file's
# ``[[partners]]`` tables come).
MAX_PARTNERS = 64
MAX_PARTNERS_FILE_BYTES = 256 << 10
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


def _https(v: str) -> str:
    """An absolute https URL with a host; plain http only for a loopback host (a development network)."""
    scheme, sep, rest = v.partition("://")
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    hostname = host.partition("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
    if not sep or not hostname or any(ch.isspace() for ch in v):
        raise ValueError("not an https URL")
    if scheme.lower() == "https" or (scheme.lower() == "http" and hostname.lower() in LOOPBACK_HOSTS):
        return v
    raise ValueError("not an https URL")


class PartnerEntry(BaseModel):
    """One ``[[partners]]`` table of a region's partners file."""

    model_config = ConfigDict(extra="forbid")

    region: str
    issuer: str = Field(max_length=2048)
    jwks_uri: str | None = Field(None, max_length=2048)
    jwks_file: Path | None = None
    roles: dict[str, list[str]] = Field(max_length=64)
    api_base: str = Field(max_length=2048)
    audience: str | None = Field(None, max_length=256)

    @field_validator("region")
    @classmethod
    def _nuts2(cls, v: str) -> str:
        if not NUTS2.match(v):
            raise ValueError("not a NUTS-2 code such as ITH5")
        return v

    @field_validator("issuer", "api_base")
    @classmethod
    def _https_url(cls, v: str) -> str:
        return _https(v)

    @field_validator("jwks_uri")
    @classmethod
    def _https_jwks(cls, v: str | None) -> str | None:
        return None if v is None else _https(v)

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        from clustergrowth.auth import ROLES  # auth reads these settings: imported when a file is checked

        for theirs, ours in v.items():
            if not theirs or len(theirs) > 64:
                raise ValueError("a partner's role name has 1 to 64 characters")
            unknown = sorted(set(ours) - set(ROLES))
            if unknown:
                raise ValueError(f"{theirs!r} grants roles unknown here: {unknown}")
        return v

    @model_validator(mode="after")
    def _one_key_source(self) -> PartnerEntry:
        if self.jwks_uri is None and self.jwks_file is None:
            raise ValueError("jwks_uri (or jwks_file) is required")
        if self.jwks_uri is not None and self.jwks_file is not None:
            raise ValueError("jwks_uri or jwks_file, not both")
        return self


class PartnersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partners: list[PartnerEntry] = Field(max_length=MAX_PARTNERS)


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_partners(path: Path, region: str, home_issuer: str) -> list[TrustedIssuer]:
    """The partners listed in ``path`` (TOML), every entry checked; a ValueError lists each refusal by entry."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ValueError(f"partners file {path}: cannot be read ({e.strerror})") from None
    if len(raw) > MAX_PARTNERS_FILE_BYTES:
        raise ValueError(f"partners file {path}: larger than {MAX_PARTNERS_FILE_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"partners file {path}: not TOML ({e})") from None
    try:
        entries = PartnersFile.model_validate(data).partners
    except ValidationError as e:
        problems = [f"{_where(err['loc'])}: {err['msg'].removeprefix('Value error, ')}" for err in e.errors()]
        raise ValueError(f"partners file {path}: " + "; ".join(problems)) from None
    problems = []
    seen_regions: dict[str, int] = {}
    seen_issuers: dict[str, int] = {}
    for i, p in enumerate(entries):
        if p.region == region:
            problems.append(f"partners[{i}].region: {p.region} is this region")
        elif p.region in seen_regions:
            problems.append(f"partners[{i}].region: {p.region} is listed already by partners[{seen_regions[p.region]}]")
        if p.issuer in (home_issuer, DEV_ISSUER):
            problems.append(f"partners[{i}].issuer: this region's own issuer")
        elif p.issuer in seen_issuers:
            problems.append(f"partners[{i}].issuer: listed already by partners[{seen_issuers[p.issuer]}]")
        seen_regions.setdefault(p.region, i)
        seen_issuers.setdefault(p.issuer, i)
    if problems:
        raise ValueError(f"partners file {path}: " + "; ".join(problems))
    return [TrustedIssuer(**p.model_dump()) for p in entries]
