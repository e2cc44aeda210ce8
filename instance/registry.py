"""The services of a regional instance: one line each. Everything else (the gateway's upstreams, the
embedded composition, ``clustergrowth run <service>`` and service subcommands) follows from this list;
``docker-compose.yml`` and Prometheus's targets are checked against it by a test."""

from __future__ import annotations

import functools
import importlib
import os

from clustergrowth.component import ServiceSpec
from gateway.app import GatewaySettings

SERVICES = (
    "services.facilities",
    "services.mapping",
    "services.matching",
    "services.councils",
    "services.training",
)


def specs() -> tuple[ServiceSpec, ...]:
    """Each registered service's spec (``<module>.spec.SPEC``), in registry order."""
    return _load(SERVICES)


@functools.cache
def _load(modules: tuple[str, ...]) -> tuple[ServiceSpec, ...]:
    out = tuple(importlib.import_module(f"{m}.spec").SPEC for m in modules)
    names = [s.name for s in out]
    if len(set(names)) != len(names) or len({s.port for s in out}) != len(out):
        raise ValueError(f"services need distinct names and ports: {[(s.name, s.port) for s in out]}")
    return out


def spec(name: str) -> ServiceSpec:
    for s in specs():
        if s.name == name:
            return s
    raise KeyError(name)


def upstream_urls(gw: GatewaySettings) -> dict[str, str]:
    """Proxy mode: each service's URL — ``CG_GATEWAY_URLS``, else ``CG_GATEWAY_<SERVICE>_URL``, else its
    registered port on this host."""
    return {
        s.name: gw.urls.get(s.name)
        or os.environ.get(f"CG_GATEWAY_{s.name.upper()}_URL")
        or f"http://127.0.0.1:{s.port}"
        for s in specs()
    }
