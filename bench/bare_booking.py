"""The baseline of bench.contention: a bare Starlette endpoint booking a slot, with no platform around it.

It does what the booking route does for the store and nothing else: the request body is validated by
the same command model (``BookResource``), the resource is read, and the day's schedule document gets
the booking and its event in its embedded outbox by the same guarded write (``aggregate.update`` over
the same SQLite store adapter), refusing an overlapping confirmed booking with 409. No gateway, no
token, no middleware, no relay publishing the outbox: what is left of the real route's cost once the
platform's own work is taken away.

How far it is "the same store write" (checked for issue 17): the same adapter, the same guarded update
of one document per resource and day, holding the same number of bookings. It differs in what the
platform adds to that write: its booking record has 14 fields to this one's 6, its event is the
contract's, and its schedules collection carries four indexes (the list pages', the sweeper's and the
relay's), on the row's small ``ix`` object, which an update rewrites when the day's indexed fields
change; this one's has none. Those stay on the platform's side of the comparison.

Both run with the cyclic collector's settings of ``clustergrowth run`` (``freeze_startup_heap``: young
collections after 7,000 allocations, the start-up heap frozen): a booking's collections cost the bare
endpoint 63-89 µs at CPython's defaults and 1-2 µs so, and the comparison is of the platform's work,
not of process tuning.

``--framework fastapi`` serves the same endpoint as a FastAPI route instead (the body a ``BookResource``
parameter, validated by FastAPI; its telemetry off, as the platform's apps have it): the floor of any
FastAPI service doing this write, beside the bare Starlette one in bench.contention, so that what the
platform costs above the bare endpoint splits into what FastAPI itself costs and what the platform adds.

Run: ``python -m bench.bare_booking --port P --data DIR --resources r1,r2 [--framework fastapi]`` (used by
bench.contention).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clustergrowth import aggregate, ids
from clustergrowth.envelope import CloudEvent
from clustergrowth.httpserver import freeze_startup_heap
from clustergrowth.problems import Conflict
from clustergrowth.store.sqlite import SqliteStore
from clustergrowth.web import FASTAPI_TELEMETRY_OFF
from services.facilities.commands import BookResource

RESOURCES, SCHEDULES = "resources", "schedules"


def app(store: SqliteStore, region: str = "IE05") -> Starlette:
    async def book(request: Request) -> Response:
        try:
            cmd = BookResource.model_validate_json(await request.body())
        except ValidationError as e:
            return _invalid(e.errors())
        return await _book(store, cmd, region)

    return Starlette(routes=[Route("/api/v1/facilities/bookings", book, methods=["POST"])])


def fastapi_app(store: SqliteStore, region: str = "IE05") -> FastAPI:
    """The same endpoint as a FastAPI route: FastAPI reads and validates the body, nothing else is added."""
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, telemetry=FASTAPI_TELEMETRY_OFF)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Response:
        return _invalid(e.errors())

    @api.post("/api/v1/facilities/bookings", status_code=201)
    async def book(cmd: BookResource) -> Response:
        return await _book(store, cmd, region)

    return api


def _invalid(errors: Sequence[Any]) -> Response:
    """422 naming each field as the bare endpoint does (FastAPI's locations start with "body")."""
    locations = [x["loc"][1:] if x["loc"][:1] == ("body",) else x["loc"] for x in errors]
    fields = [{"field": ".".join(map(str, loc)), "reason": x["msg"]} for loc, x in zip(locations, errors, strict=True)]
    return JSONResponse({"status": 422, "errors": fields}, 422, media_type="application/problem+json")


async def _book(store: SqliteStore, cmd: BookResource, region: str) -> Response:
    """The resource read, then the day's guarded write with the booking and its event: 201, 404 or 409."""
    resource = await store.get(RESOURCES, cmd.resource_id)
    if resource is None:
        return JSONResponse({"status": 404}, 404, media_type="application/problem+json")
    start, end = cmd.start.astimezone(UTC), cmd.end.astimezone(UTC)
    key = f"{cmd.resource_id}:{start.date().isoformat()}"

    async def step(doc: dict[str, Any] | None) -> tuple[dict[str, Any], list[CloudEvent], dict[str, Any]]:
        bookings = list((doc or {}).get("bookings", []))
        for b in bookings:
            if b["status"] == "confirmed" and b["start"] < end.isoformat() and start.isoformat() < b["end"]:
                raise Conflict("the slot overlaps a confirmed booking")
        booking = {
            "id": f"bk-{ids.uuid4().hex[:12]}",
            "resource_id": cmd.resource_id,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "status": "confirmed",
            "created_at": datetime.now(UTC).isoformat(),
        }
        event = CloudEvent(
            type="eu.smeclustergrowth.facilities.ResourceBooked.v1",
            source=f"/regions/{region}/facilities",
            data=booking,
            region=region,
            partitionkey=cmd.resource_id,
        )
        new = {**(doc or {}), "_id": key, "resource_id": cmd.resource_id, "bookings": [*bookings, booking]}
        return new, [event], booking

    try:
        booking = await aggregate.update(store, SCHEDULES, key, step, busy="the resource is too busy")
    except Conflict as e:
        return JSONResponse({"status": 409, "detail": e.detail}, 409, media_type="application/problem+json")
    return JSONResponse(booking, 201)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--resources", required=True, help="comma-separated resource ids to create")
    p.add_argument("--framework", choices=("starlette", "fastapi"), default="starlette")
    a = p.parse_args()
    store = SqliteStore(a.data / "bare.sqlite")

    async def seed() -> None:
        for rid in a.resources.split(","):
            await store.insert(RESOURCES, {"_id": rid, "name": rid})

    import asyncio

    asyncio.run(seed())
    store = SqliteStore(a.data / "bare.sqlite")  # a fresh connection thread for the server's loop
    served = fastapi_app(store) if a.framework == "fastapi" else app(store)
    freeze_startup_heap()  # the collector's settings of `clustergrowth run`: process tuning is not the platform's work
    uvicorn.run(served, host="127.0.0.1", port=a.port, log_level="warning", access_log=False, http="httptools")


if __name__ == "__main__":
    main()
