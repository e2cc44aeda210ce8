"""The platform's public HTTP API as the web client sees it: JSON over HTTP with the person's bearer token,
in-process (an ASGI transport to the regional app) or to the gateway's URL. A problem (RFC 9457) comes
back as ``Problem`` with its fields, so a page can show each reason next to the field it names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from starlette.types import ASGIApp


@dataclass
class Problem(Exception):
    """An API refusal: status, title, detail, and the reasons per field (``errors``) when it names fields."""

    status: int
    title: str = ""
    detail: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # field: (code, limits)

    @classmethod
    def from_response(cls, r: httpx.Response) -> Problem:
        try:
            body = r.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        fields: dict[str, str] = {}
        codes: dict[str, tuple[str, dict[str, Any]]] = {}
        for e in body.get("errors") or []:
            if isinstance(e, dict) and e.get("field"):
                name = str(e["field"]).split(".")[-1] if str(e["field"]).startswith("body.") else str(e["field"])
                if name not in fields:
                    fields[name] = str(e.get("reason", ""))
                    limits = e.get("limits")
                    codes[name] = (str(e.get("code") or ""), limits if isinstance(limits, dict) else {})
        known = {"type", "title", "status", "detail", "instance", "errors"}
        return cls(
            status=r.status_code,
            title=str(body.get("title", r.reason_phrase)),
            detail=str(body.get("detail", "")),
            fields=fields,
            extra={k: v for k, v in body.items() if k not in known},
            codes=codes,
        )


class Platform:
    """One person's view of the API: every call carries her token (if any)."""

    def __init__(
        self, client: httpx.AsyncClient, token: str | None, word: Callable[[Problem], Problem] | None = None
    ) -> None:
        self.client, self.token = client, token
        self._word = word  # puts a refusal in the person's words (web/problems.py)

    def refusal(self, r: httpx.Response) -> Problem:
        """The API's refusal ``r`` as a ``Problem`` in the person's words."""
        problem = Problem.from_response(r)
        return self._word(problem) if self._word else problem

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        if_match: str | None = None,
    ) -> httpx.Response:
        """One call as this person (``path`` under ``/api/v1``, or a link the API gave, starting with it);
        a refusal is raised as a ``Problem`` in her words. ``if_match``: the ETag an edit was read with."""
        url = path if path.startswith("/api/v1/") else f"/api/v1{_segments(path)}"
        headers = self._headers() | ({"If-Match": if_match} if if_match else {})
        r = await self.client.request(method, url, params=params, json=body, headers=headers)
        if r.status_code >= 400:
            raise self.refusal(r)
        return r

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return (await self.call("GET", path, params=params)).json()

    async def get_tagged(self, path: str, params: dict[str, Any] | None = None) -> tuple[Any, str]:
        """A resource with its ``ETag`` (for an edit that must not overwrite someone else's)."""
        r = await self.call("GET", path, params=params)
        return r.json(), r.headers.get("etag", "")

    async def post(self, path: str, body: dict[str, Any] | None = None, if_match: str | None = None) -> Any:
        r = await self.call("POST", path, body=body or {}, if_match=if_match)
        return r.json() if r.content else None

    async def put(self, path: str, body: dict[str, Any], if_match: str | None = None) -> Any:
        r = await self.call("PUT", path, body=body, if_match=if_match)
        return r.json() if r.content else None

    async def patch(self, path: str, body: dict[str, Any], if_match: str | None = None) -> Any:
        r = await self.call("PATCH", path, body=body, if_match=if_match)
        return r.json() if r.content else None


def _segments(path: str) -> str:
    """A path the page built from its own path parameters, each segment percent-encoded: a parameter
    that arrived as ``%3F``, ``%23`` or ``%0A`` stays inside its segment instead of starting a query, a
    fragment or a new header line, and ``.``/``..`` never climb to another route (404 instead)."""
    parts = path.split("/")
    if any(part in (".", "..") for part in parts):
        raise Problem(404, "Not found", "no such page")
    return "/".join(quote(part, safe=":@!$&'()*+,;=") for part in parts)


def client_for(api: ASGIApp | str, address: str, timeout_s: float) -> httpx.AsyncClient:
    """An HTTP client to the API: in-process (ASGI), keeping the browser's address for the per-address
    quota, or over HTTP to the gateway's URL."""
    if isinstance(api, str):
        return httpx.AsyncClient(base_url=api, timeout=timeout_s)
    transport = httpx.ASGITransport(app=api, client=(address, 0))
    return httpx.AsyncClient(transport=transport, base_url="http://web.internal", timeout=timeout_s)


def partner_page(api_base: str | None, path: str) -> str | None:
    """A page of a partner region's own web client, which serves ``/`` beside its API's ``/api/v1`` (the
    API base comes from that region's entry in the partners file); None when the base is unknown or not
    of that form. Booking and applying stay there: this region only links to it."""
    base = (api_base or "").rstrip("/")
    if not base.endswith("/api/v1"):
        return None
    return f"{base.removesuffix('/api/v1')}{path}"
