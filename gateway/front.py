"""The gateway's compiled front (``gateway/edge``, Rust) for the distributed mode.

The Python gateway's own proxy path adds about 0.2 ms per request, most of it the interpreter and
the ASGI server; the compiled front adds about what nginx adds (``python -m bench.gateway``). It applies
the same edge rules as ``gateway.limits`` and ``gateway.proxy`` with the same settings (this module
validates ``GatewaySettings`` and hands them over as JSON) and passes every path that is not
``/api/v1/…`` — the merged API description, the docs page — to a Python gateway at ``describe_url``.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from gateway.app import GatewaySettings

ROOT = Path(__file__).resolve().parent.parent


def edge_config(gw: GatewaySettings, urls: dict[str, str]) -> dict[str, Any]:
    """The front's configuration: the gateway's settings, with each service's URL and timeout."""
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
        "rate_store_url": gw.rate_store_url or "",
    }


def edge_binary() -> str:
    """``$CG_EDGE_BIN`` (as in the container image), else built from ``gateway/edge`` under ``.cache``."""
    return os.environ.get("CG_EDGE_BIN") or _built()


@functools.cache
def _built() -> str:
    script = ROOT / "deploy" / "native" / "provision.sh"
    return subprocess.run([str(script), "edge"], check=True, capture_output=True, text=True).stdout.strip()


def edge_command(gw: GatewaySettings, urls: dict[str, str], host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start the front on ``host:port`` before ``urls``."""
    env = {**os.environ, "CG_EDGE_CONFIG": json.dumps(edge_config(gw, urls))}
    return [edge_binary(), "-listen", f"{host}:{port}"], env
