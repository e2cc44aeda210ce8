"""The regional stack as one app: every registered service in this process (embedded mode), or the
gateway before the services' own processes (proxy mode)."""

from __future__ import annotations

from fastapi import FastAPI

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings, embedded_app, proxy_app
from instance.registry import specs, upstream_urls
from web.app import WebFirst, create_web


def create_app(settings: RuntimeSettings | None = None, gw: GatewaySettings | None = None) -> FastAPI:
    """The regional front door, composed from the registry."""
    settings = settings or RuntimeSettings()
    gw = gw or GatewaySettings()
    if gw.mode == "embedded":
        app = embedded_app(settings, gw, [s.component(settings) for s in specs()])
    else:
        app = proxy_app(settings, gw, upstream_urls(gw))
    app.add_middleware(WebFirst, web=create_web(settings, api=app))  # the web client at / (web/)
    return app
