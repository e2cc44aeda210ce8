"""The gateway's compiled front (``gateway/edge``, Rust) for the distributed mode.

It answers ``/api/v1/…`` with the same edge rules as ``gateway.limits`` applies in the embedded mode,
with the same settings (this module validates ``GatewaySettings`` and the quota store's credentials
from ``RuntimeSettings`` and hands them over as JSON), on hyper and tokio (``python -m bench.gateway``
compares it with nginx), and passes every path that is not ``/api/v1/…`` — the merged API description,
the docs page — to the Python gateway at ``describe_url``.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings

ROOT = Path(__file__).resolve().parent.parent


def edge_config(gw: GatewaySettings, urls: dict[str, str], settings: RuntimeSettings | None = None) -> dict[str, Any]:
    """The front's configuration: the gateway's settings, with each service's URL and timeout, and the
    quota store's credentials and CA (``CG_REDIS_*``), refused as the Python gateway refuses them."""
    settings = settings or RuntimeSettings()
    store = gw.rate_store_url or ""
    if store and gw.rate_limits:
        problems = settings.redis_problems(store)
        if problems:
            raise ValueError("; ".join(problems))
    password = settings.redis_password.get_secret_value() if settings.redis_password is not None else None
    ca = str(settings.redis_ca_file) if settings.redis_ca_file is not None and store.startswith("rediss://") else None
    return {
        "upstreams": {
            name: {"url": url, "timeout_s": gw.timeouts.get(name, gw.timeout_s)} for name, url in urls.items()
        },
        "describe_url": gw.describe_url or "",
        "connect_timeout_s": gw.connect_timeout_s,
        "breaker_failures": gw.breaker_failures,
        "breaker_cooldown_s": gw.breaker_cooldown_s,
        "max_body_bytes": gw.max_body_bytes,
        "cors_origins": gw.cors_origins,
        "rate_limits": gw.rate_limits,
        "rate_window_s": gw.rate_window_s,
        "rate_per_principal": gw.rate_per_principal,
        "rate_writes_per_principal": gw.rate_writes_per_principal,
        "rate_per_address": gw.rate_per_address,
        "rate_store_url": store,
        "rate_store_username": settings.redis_username if password is not None else None,
        "rate_store_password": password,
        "rate_store_ca_file": ca,
    }


def edge_binary() -> str:
    """``$CG_EDGE_BIN`` (as in the container image), else built from ``gateway/edge`` under ``.cache``."""
    return os.environ.get("CG_EDGE_BIN") or _built()


@functools.cache
def _built() -> str:
    script = ROOT / "deploy" / "native" / "provision.sh"
    return subprocess.run([str(script), "edge"], check=True, capture_output=True, text=True).stdout.strip()


def edge_command(
    gw: GatewaySettings, urls: dict[str, str], host: str, port: int, settings: RuntimeSettings | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start the front on ``host:port`` before ``urls``."""
    env = {**os.environ, "CG_EDGE_CONFIG": json.dumps(edge_config(gw, urls, settings))}
    return [edge_binary(), "-listen", f"{host}:{port}"], env
