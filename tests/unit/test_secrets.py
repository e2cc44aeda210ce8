"""Secrets and transport security in the settings: each rule at its boundary, what production refuses
(naming the setting), and secrets that never print (repr, JSON, errors, logs, failed connections)."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from clustergrowth.bus.kafka import KafkaBus, client_options, security_options
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.mongo import client_options as mongo_options
from gateway.limits import RedisCounter
from tests.backends import free_port

SECRET = "s3cr3t-Kafka-Pw-0042"  # 20 characters, in no default list
PROD: dict[str, Any] = {"environment": "production", "auth_issuer": "https://login.example.org"}
KAFKA_PROD: dict[str, Any] = {
    **PROD,
    "bus": "kafka",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "cg-ie05",
    "kafka_sasl_password": SECRET,
}
MONGO_PROD: dict[str, Any] = {
    **PROD,
    "store": "mongo",
    "mongo_tls": True,
    "mongo_username": "cg-ie05",
    "mongo_password": SECRET,
}


def refused(match: str, **kwargs: Any) -> str:
    with pytest.raises(ValidationError, match=match) as e:
        RuntimeSettings(**kwargs)
    return str(e.value)


# --- Kafka ---------------------------------------------------------------------------------------------------


def test_sasl_needs_both_credentials_and_credentials_need_sasl() -> None:
    refused("needs CG_KAFKA_SASL_USERNAME and CG_KAFKA_SASL_PASSWORD", kafka_security_protocol="SASL_SSL")
    refused("needs CG_KAFKA_SASL_USERNAME", kafka_security_protocol="SASL_SSL", kafka_sasl_username="u")
    refused("needs CG_KAFKA_SASL_USERNAME", kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_password=SECRET)
    refused("not SASL_", kafka_sasl_username="u", kafka_sasl_password=SECRET)  # PLAINTEXT would not send them
    refused("not SASL_", kafka_security_protocol="SSL", kafka_sasl_password=SECRET)
    RuntimeSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u", kafka_sasl_password="x")


def test_tls_files_need_tls_and_a_certificate_needs_its_key(tmp_path: Path) -> None:
    refused("not SSL or SASL_SSL", kafka_ssl_cafile=tmp_path / "ca.pem")
    refused("go together", kafka_security_protocol="SSL", kafka_ssl_certfile=tmp_path / "c.pem")
    refused("go together", kafka_security_protocol="SSL", kafka_ssl_keyfile=tmp_path / "k.pem")
    RuntimeSettings(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "ca.pem")


def test_production_refuses_plaintext_kafka_naming_the_setting() -> None:
    for protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
        given = {**KAFKA_PROD, "kafka_security_protocol": protocol}
        if protocol == "PLAINTEXT":
            given |= {"kafka_sasl_username": None, "kafka_sasl_password": None}
        message = refused(f"CG_KAFKA_SECURITY_PROTOCOL={protocol} is plaintext", **given)
        assert "environment=production refuses" in message
    RuntimeSettings(**KAFKA_PROD)
    RuntimeSettings(**{**KAFKA_PROD, "bus": "sqlite", "kafka_security_protocol": "SASL_PLAINTEXT"})  # not used


def test_production_refuses_default_and_short_kafka_passwords() -> None:
    for default in ("changeme", "PASSWORD", "kafka", "admin-secret"):
        refused("CG_KAFKA_SASL_PASSWORD is a default", **{**KAFKA_PROD, "kafka_sasl_password": default})
    refused("needs CG_KAFKA_SASL_USERNAME and CG_KAFKA_SASL_PASSWORD", **{**KAFKA_PROD, "kafka_sasl_password": ""})
    refused("shorter than 12", **{**KAFKA_PROD, "kafka_sasl_password": "a" * 11})  # just outside
    RuntimeSettings(**{**KAFKA_PROD, "kafka_sasl_password": "a" * 12})  # at the threshold
    RuntimeSettings(**{**KAFKA_PROD, "kafka_sasl_password": "a" * 13})  # just inside
    RuntimeSettings(**{**KAFKA_PROD, "environment": "development", "kafka_sasl_password": "changeme"})


def test_production_ssl_without_sasl_needs_a_client_certificate(tmp_path: Path) -> None:
    ssl_only = {
        **KAFKA_PROD,
        "kafka_security_protocol": "SSL",
        "kafka_sasl_username": None,
        "kafka_sasl_password": None,
    }
    refused("CG_KAFKA_SSL_CERTFILE", **ssl_only)
    RuntimeSettings(**ssl_only, kafka_ssl_certfile=tmp_path / "c.pem", kafka_ssl_keyfile=tmp_path / "k.pem")


def test_security_options_carry_the_real_secret_to_every_client() -> None:
    s = RuntimeSettings(**KAFKA_PROD, kafka_sasl_mechanism="SCRAM-SHA-256")
    opts = security_options(s)
    assert opts["security_protocol"] == "SASL_SSL"
    assert opts["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (opts["sasl_plain_username"], opts["sasl_plain_password"]) == ("cg-ie05", SECRET)
    assert isinstance(opts["ssl_context"], ssl.SSLContext)
    assert opts["ssl_context"].verify_mode == ssl.CERT_REQUIRED and opts["ssl_context"].check_hostname
    both = client_options(s)
    assert (both["bootstrap_servers"], both["sasl_plain_password"]) == ("127.0.0.1:9092", SECRET)
    assert set(both) == {"bootstrap_servers", *opts}
    assert security_options(RuntimeSettings()) == {"security_protocol": "PLAINTEXT"}
    ssl_only = security_options(RuntimeSettings(kafka_security_protocol="SSL"))
    assert set(ssl_only) == {"security_protocol", "ssl_context"}  # no SASL arguments without SASL


# --- MongoDB -------------------------------------------------------------------------------------------------


def test_mongo_url_never_carries_a_password() -> None:
    message = refused("put it in CG_MONGO_PASSWORD", mongo_url=f"mongodb://cg:{SECRET}@db.example:27017/")
    assert SECRET not in message
    refused("put it in CG_MONGO_PASSWORD", mongo_url=f"mongodb://cg:{SECRET}@h1:1,h2:2/?replicaSet=rs0")
    RuntimeSettings(mongo_url="mongodb://cg@db.example:27017/?authMechanism=MONGODB-X509")  # a user alone
    RuntimeSettings(mongo_url="mongodb://db.example:27017/?appName=a:b@c")  # '@' after the path is no userinfo
    refused("CG_MONGO_PASSWORD needs CG_MONGO_USERNAME", mongo_password=SECRET)
    RuntimeSettings(mongo_url="mongodb://cg@db.example/", mongo_password=SECRET)


def test_production_refuses_plaintext_and_unauthenticated_mongo(tmp_path: Path) -> None:
    refused("CG_MONGO_TLS is off", **{**MONGO_PROD, "mongo_tls": False})
    RuntimeSettings(**{**MONGO_PROD, "mongo_tls": False, "mongo_url": "mongodb://db.example/?tls=true"})
    RuntimeSettings(**{**MONGO_PROD, "mongo_tls": False, "mongo_url": "mongodb://db.example/?ssl=true"})
    RuntimeSettings(**{**MONGO_PROD, "mongo_tls": False, "mongo_url": "mongodb+srv://cluster.example/"})
    refused("CG_MONGO_TLS is off", **{**MONGO_PROD, "mongo_tls": False, "mongo_url": "mongodb://h/?tls=false"})
    refused(
        "CG_MONGO_USERNAME: MongoDB without authentication",
        **{**MONGO_PROD, "mongo_username": None, "mongo_password": None},
    )
    refused("CG_MONGO_PASSWORD is unset", **{**MONGO_PROD, "mongo_password": None})
    refused("CG_MONGO_PASSWORD is unset, a default", **{**MONGO_PROD, "mongo_password": "mongodb"})
    refused("shorter than 12", **{**MONGO_PROD, "mongo_password": "b" * 11})
    RuntimeSettings(**{**MONGO_PROD, "mongo_password": "b" * 12})
    x509 = {**MONGO_PROD, "mongo_username": None, "mongo_password": None}
    RuntimeSettings(**x509, mongo_tls_certificate_key_file=tmp_path / "client.pem")  # a certificate is the login
    RuntimeSettings(**{**MONGO_PROD, "store": "sqlite", "mongo_tls": False})  # Mongo not used


def test_mongo_client_options_from_settings(tmp_path: Path) -> None:
    s = RuntimeSettings(**MONGO_PROD, mongo_tls_ca_file=tmp_path / "ca.pem", mongo_auth_source="cg")
    assert mongo_options(s) == {
        "username": "cg-ie05",
        "password": SECRET,
        "authSource": "cg",
        "tls": True,
        "tlsCAFile": str(tmp_path / "ca.pem"),
    }
    assert mongo_options(RuntimeSettings()) == {}


# --- Redis ---------------------------------------------------------------------------------------------------


def test_redis_rules_in_development_and_production() -> None:
    dev, prod = RuntimeSettings(), RuntimeSettings(**PROD, redis_password=SECRET)
    assert dev.redis_problems("redis://127.0.0.1:6379/0") == []
    assert dev.redis_problems(f"rediss://:{SECRET}@cache.example:6380/0") == [
        "CG_GATEWAY_RATE_STORE_URL carries a password: put it in CG_REDIS_PASSWORD (a URL gets printed)"
    ]
    assert prod.redis_problems("redis://cache.example:6379/0") == [
        "CG_GATEWAY_RATE_STORE_URL is plaintext: use rediss:// (TLS) in production"
    ]
    assert prod.redis_problems("rediss://cache.example:6380/0") == []
    weak = RuntimeSettings(**PROD, redis_password="redis")
    assert weak.redis_problems("rediss://cache.example:6380/0") == [
        "CG_REDIS_PASSWORD is unset, a default or shorter than 12 characters"
    ]
    assert RuntimeSettings(**PROD).redis_problems("rediss://h/0") == weak.redis_problems("rediss://h/0")
    refused("CG_REDIS_USERNAME needs CG_REDIS_PASSWORD", redis_username="quota")


def test_the_gateway_refuses_to_build_a_plaintext_quota_store_in_production() -> None:
    with pytest.raises(ValueError, match="CG_GATEWAY_RATE_STORE_URL is plaintext"):
        RedisCounter("redis://cache.example:6379/0", settings=RuntimeSettings(**PROD, redis_password=SECRET))
    RedisCounter("rediss://cache.example:6380/0", settings=RuntimeSettings(**PROD, redis_password=SECRET))


# --- the operator's view: one clean message naming the variable ---------------------------------------------


def test_production_without_an_issuer_names_cg_auth_issuer() -> None:
    message = refused("CG_AUTH_ISSUER is unset or the development issuer", environment="production")
    assert "CG_AUTH_ISSUER" in message
    RuntimeSettings(**PROD)  # a real issuer: accepted
    RuntimeSettings(environment="development")  # the development issuer outside production: accepted


def test_an_empty_jwks_uri_means_discovery() -> None:
    """Compose passes ``${CG_AUTH_JWKS_URI:-}``: an empty value is unset, not a URL to fetch."""
    assert RuntimeSettings(auth_jwks_uri="").auth_jwks_uri is None
    assert RuntimeSettings(auth_jwks_uri=" ").auth_jwks_uri is None
    assert RuntimeSettings(auth_jwks_uri="https://login.example.org/jwks").auth_jwks_uri == (
        "https://login.example.org/jwks"
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CG_GATEWAY_RATE_STORE_URL": "redis://cache.example:6379/0"}, "CG_GATEWAY_RATE_STORE_URL is plaintext"),
        (
            {"CG_GATEWAY_RATE_STORE_URL": f"rediss://:{SECRET}@cache.example:6380/0"},
            "CG_GATEWAY_RATE_STORE_URL carries",
        ),
        ({"CG_REDIS_PASSWORD": "redis"}, "CG_REDIS_PASSWORD is unset, a default"),
        ({"CG_WEB_SECRET_KEY": ""}, "CG_WEB_SECRET_KEY is required in production"),
    ],
)
def test_the_gateway_s_refusals_stop_the_cli_with_one_message(
    env: dict[str, str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`clustergrowth run gateway` in production: a refusal by a part built at start (the quota store, the
    web client) ends the command with `clustergrowth: bad configuration:` and the variable, no traceback;
    nothing is served and the secret is not repeated."""
    import uvicorn

    from clustergrowth import logs
    from instance.cli import main

    given = {
        "CG_ENVIRONMENT": "production",
        "CG_AUTH_ISSUER": "https://login.example.org",
        "CG_DATA_DIR": str(tmp_path),
        "CG_GATEWAY_MODE": "proxy",
        "CG_GATEWAY_RATE_STORE_URL": "rediss://cache.example:6380/0",
        "CG_REDIS_PASSWORD": SECRET,
        "CG_WEB_SECRET_KEY": "k" * 32,  # at the threshold
    } | env
    for name in [n for n in os.environ if n.startswith("CG_")]:
        monkeypatch.delenv(name)
    for name, value in given.items():
        if value:
            monkeypatch.setenv(name, value)
    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    monkeypatch.setattr(logs, "configure", lambda *_: None)
    with pytest.raises(SystemExit) as stopped:
        main(["run", "gateway"])
    assert str(stopped.value.code).startswith("clustergrowth: bad configuration:\n") and named in str(
        stopped.value.code
    )
    assert SECRET not in str(stopped.value.code) and not served


def test_the_gateway_starts_when_nothing_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from clustergrowth import logs
    from instance.cli import main

    for name in [n for n in os.environ if n.startswith("CG_")]:
        monkeypatch.delenv(name)
    for name, value in {
        "CG_ENVIRONMENT": "production",
        "CG_AUTH_ISSUER": "https://login.example.org",
        "CG_DATA_DIR": str(tmp_path),
        "CG_GATEWAY_MODE": "proxy",
        "CG_GATEWAY_RATE_STORE_URL": "rediss://cache.example:6380/0",
        "CG_REDIS_PASSWORD": SECRET,
        "CG_WEB_SECRET_KEY": "k" * 32,
    }.items():
        monkeypatch.setenv(name, value)
    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    monkeypatch.setattr(logs, "configure", lambda *_: None)
    assert main(["run", "gateway"]) == 0 and len(served) == 1


# --- never printed -------------------------------------------------------------------------------------------


def every_secret() -> RuntimeSettings:
    return RuntimeSettings(
        **{**KAFKA_PROD, **MONGO_PROD},
        kafka_ssl_key_password=SECRET + "-key",
        redis_password=SECRET + "-redis",
    )


def test_secrets_are_not_in_repr_str_or_json() -> None:
    s = every_secret()
    for text in (repr(s), str(s), s.model_dump_json(), repr(s.model_dump())):
        assert SECRET not in text
    assert "**********" in repr(s)
    assert s.kafka_sasl_password is not None and s.kafka_sasl_password.get_secret_value() == SECRET


def test_a_refused_configuration_does_not_repeat_its_secrets() -> None:
    message = refused("CG_MONGO_TLS is off", **{**KAFKA_PROD, **MONGO_PROD, "mongo_tls": False})
    assert SECRET not in message
    message = refused("shorter than 12", **{**KAFKA_PROD, "kafka_sasl_password": "tiny-secret"})
    assert "tiny-secret" not in message
    message = refused("needs CG_KAFKA_SASL_USERNAME", kafka_security_protocol="SASL_SSL", kafka_sasl_password=SECRET)
    assert SECRET not in message


async def test_a_failed_connection_does_not_print_its_secrets(caplog: pytest.LogCaptureFixture) -> None:
    """What /readyz shows (the probe's exception) and the quota store's warning carry no secret."""
    s = RuntimeSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u", kafka_sasl_password=SECRET)
    bus = KafkaBus(f"127.0.0.1:{free_port()}", security=security_options(s), request_timeout_ms=500)
    with pytest.raises(Exception) as e:  # whatever aiokafka raises: its text is checked
        await bus.ping()
    assert SECRET not in f"{type(e.value).__name__}: {e.value}"
    counter = RedisCounter(f"redis://127.0.0.1:{free_port()}/0", settings=RuntimeSettings(redis_password=SECRET))
    with caplog.at_level(logging.WARNING, logger="gateway.limits"):
        assert await counter.hit("k", 1, 10) == 1  # counted in memory instead
    await counter.aclose()
    assert "quota store unavailable" in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ("CG_KAFKA_SECURITY_PROTOCOL", "kafka_security_protocol", "SSL"),
        ("CG_KAFKA_SSL_CERTFILE", "kafka_ssl_certfile", Path("c.pem")),
        ("CG_KAFKA_SASL_PASSWORD", "kafka_sasl_password", None),
        ("CG_MONGO_TLS", "mongo_tls", True),
        ("CG_MONGO_USERNAME", "mongo_username", "someone"),
        ("CG_MONGO_PASSWORD", "mongo_password", None),
        ("CG_REDIS_PASSWORD", "redis_password", None),
    ],
)
def test_the_settings_named_in_messages_are_the_ones_read(
    monkeypatch: pytest.MonkeyPatch, env: str, field: str, value: Any
) -> None:
    """Each variable a refusal names is the one the settings read (set it, and the field changes)."""
    given = {"CG_KAFKA_SECURITY_PROTOCOL": "SSL", "CG_KAFKA_SSL_CERTFILE": "c.pem", "CG_MONGO_TLS": "true"}
    monkeypatch.setenv(env, given.get(env, "someone"))
    if env.startswith("CG_KAFKA_SSL_"):
        monkeypatch.setenv("CG_KAFKA_SECURITY_PROTOCOL", "SSL")
        monkeypatch.setenv("CG_KAFKA_SSL_KEYFILE", "k.pem")
    if env == "CG_KAFKA_SASL_PASSWORD":
        monkeypatch.setenv("CG_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
        monkeypatch.setenv("CG_KAFKA_SASL_USERNAME", "u")
    if env == "CG_MONGO_PASSWORD":
        monkeypatch.setenv("CG_MONGO_USERNAME", "u")
    got = getattr(RuntimeSettings(), field)
    if value is None:
        assert got.get_secret_value() == "someone"
    else:
        assert got == value


@pytest.mark.parametrize("field", ["kafka_ssl_key_password", "kafka_sasl_password", "mongo_password", "redis_password"])
def test_secrets_are_bounded(field: str) -> None:
    needs: dict[str, Any] = {
        "kafka_ssl_key_password": {"kafka_security_protocol": "SSL"},
        "kafka_sasl_password": {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"},
        "mongo_password": {"mongo_username": "u"},
        "redis_password": {},
    }[field]
    at_bound: dict[str, Any] = {**needs, field: "p" * 1024}
    RuntimeSettings(**at_bound)
    message = refused("at most 1024", **{**at_bound, field: "p" * 1025})  # just outside
    assert "p" * 1025 not in message
