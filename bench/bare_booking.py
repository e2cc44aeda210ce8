"""The baseline of bench.contention: a bare Starlette endpoint booking a slot, with no platform around it.

It does what the booking route does for the store and nothing else: the request body is validated by
the same command model (``BookResource``), the resource is read, and the day's schedule document gets
the booking and its event in its embedded outbox by the same guarded write (``aggregate.update`` over
the same SQLite store adapter), refusing an overlapping confirmed booking with 409, and answers with
orjson's text of the booking, as the platform's route does. No gateway, no token, no middleware, no
rules, no domain objects: what is left of the real route's cost once the platform's own work is taken
away. Its outbox relay runs in a process of its own beside it (``--relay``: the platform's
``OutboxRelay`` publishing to an embedded event log), as the split API's worker runs the platform's, so
that its days carry no more events than the platform's do; neither relay's CPU is the server's.

The store write is the platform's (``--write same``, the default, issue 17's "the same store write"):
the same collections with the same indexes (``services.facilities.store.ensure_indexes``), a resource
document of the platform's shape (policy, opening hours), and the day's document as the platform stores
it: the booking record's 14 fields, the ``day`` field, and the contract's ``DeskBooked`` event (its data,
subject and key). The values are made here, directly, as a hand-written endpoint would make them: the
booking for a fixed person (there is no token to say who), the event without a request id (there is no
request-id middleware), ids as long as the platform's, the day in UTC (the benchmark's resources keep
UTC; the platform takes the resource's time zone). ``tests/unit/test_bare_booking.py`` books one slot
here and through the platform's booking handler, and compares the two stored documents' text.

``--write minimal`` writes less: a 6-field booking record, the event's data that record, no ``day``
field, a resource of two fields, no index but the relay's. bench.contention measures it too, beside the judged
baseline: the platform's data model costs the store write what the two differ by.

Both run with the cyclic collector's settings of ``clustergrowth run`` (``freeze_startup_heap``: young
collections after 7,000 allocations, the start-up heap frozen): a booking's collections cost the bare
endpoint 63-89 µs at CPython's defaults and 1-2 µs so, and the comparison is of the platform's work,
not of process tuning.

``--framework fastapi`` serves the same endpoint as a FastAPI route instead (the body a ``BookResource``
parameter, validated by FastAPI; its telemetry off, as the platform's apps have it): the floor of any
FastAPI service doing this write, beside the bare Starlette one in bench.contention, so that what the
platform costs above the bare endpoint splits into what FastAPI itself costs and what the platform adds.

Run: ``python -m bench.bare_booking --port P --data DIR --resources r1,r2 [--framework fastapi]
[--write minimal]``, and beside it ``python -m bench.bare_booking --data DIR --relay`` (used by
bench.contention).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clustergrowth import aggregate, ids
from clustergrowth.auth import person_id
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.context import stamp
from clustergrowth.envelope import CloudEvent
from clustergrowth.httpserver import freeze_startup_heap
from clustergrowth.outbox import OutboxRelay
from clustergrowth.problems import Conflict
from clustergrowth.store.sqlite import SqliteStore
from clustergrowth.web import FASTAPI_TELEMETRY_OFF
from contracts import facilities as ev
from services.facilities.commands import BookResource
from services.facilities.domain.model import WEEKDAYS, BookingPolicy, OpeningHours, Resource
from services.facilities.store import ensure_indexes, resource_to_doc

RESOURCES, SCHEDULES = "resources", "schedules"
SITE = "site-" + "0" * 12  # as long as the platform's site ids (site- and 12 hex digits)
WRITES = ("same", "minimal")
PERSON = person_id("https://bench.invalid", "bench-user")  # the platform's person id, for one fixed person
BOOKED = {"hot_desk": ev.DeskBooked.event_type()}  # the contract's event type by resource kind
BOOKED_OTHER = ev.FacilityBooked.event_type()
EVENT_FIELDS = "resource_id site_id resource_kind person organisation person_region region start end".split()


def app(store: SqliteStore, region: str = "IE05", write: str = "same") -> Starlette:
    book_one = _booker(write)

    async def book(request: Request) -> Response:
        try:
            cmd = BookResource.model_validate_json(await request.body())
        except ValidationError as e:
            return _invalid(e.errors())
        return await book_one(store, cmd, region)

    return Starlette(routes=[Route("/api/v1/facilities/bookings", book, methods=["POST"])])


def fastapi_app(store: SqliteStore, region: str = "IE05", write: str = "same") -> FastAPI:
    """The same endpoint as a FastAPI route: FastAPI reads and validates the body, nothing else is added."""
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, telemetry=FASTAPI_TELEMETRY_OFF)
    book_one = _booker(write)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Response:
        return _invalid(e.errors())

    @api.post("/api/v1/facilities/bookings", status_code=201)
    async def book(cmd: BookResource) -> Response:
        return await book_one(store, cmd, region)

    return api


def _booker(write: str) -> Any:
    if write not in WRITES:
        raise ValueError(f"write: one of {WRITES}, not {write!r}")
    return _book if write == "same" else _book_minimal


def _invalid(errors: Sequence[Any]) -> Response:
    """422 naming each field as the bare endpoint does (FastAPI's locations start with "body")."""
    locations = [x["loc"][1:] if x["loc"][:1] == ("body",) else x["loc"] for x in errors]
    fields = [{"field": ".".join(map(str, loc)), "reason": x["msg"]} for loc, x in zip(locations, errors, strict=True)]
    return JSONResponse({"status": 422, "errors": fields}, 422, media_type="application/problem+json")


def _not_found() -> Response:
    return JSONResponse({"status": 404}, 404, media_type="application/problem+json")


async def _write(store: SqliteStore, key: str, step: Any) -> Response:
    try:
        booking = await aggregate.update(store, SCHEDULES, key, step, busy="the resource is too busy")
    except Conflict as e:
        return JSONResponse({"status": 409, "detail": e.detail}, 409, media_type="application/problem+json")
    return Response(orjson.dumps(booking), 201, media_type="application/json")  # as the platform's answer


def _overlaps(bookings: list[dict[str, Any]], start: str, end: str) -> bool:
    return any(b["status"] == "confirmed" and b["start"] < end and start < b["end"] for b in bookings)


async def _book(store: SqliteStore, cmd: BookResource, region: str) -> Response:
    """The platform's store write: its resource read, then the day's guarded write with its booking record
    and its contract event: 201, 404 or 409."""
    resource = await store.get(RESOURCES, cmd.resource_id)
    if resource is None:
        return _not_found()
    start, end = stamp(cmd.start), stamp(cmd.end)
    day = start[:10]
    key = f"{cmd.resource_id}@{day}"  # the platform's document id for a resource's day

    async def step(doc: dict[str, Any] | None) -> tuple[dict[str, Any], list[CloudEvent], dict[str, Any]]:
        bookings = list((doc or {}).get("bookings", []))
        if _overlaps(bookings, start, end):
            raise Conflict("the slot overlaps a confirmed booking")
        booking = {  # the platform's booking record (services.facilities.store.booking_to_doc), field for field
            "id": f"{key}.{ids.uuid4_hex()}",
            "resource_id": cmd.resource_id,
            "site_id": resource["site_id"],
            "resource_kind": resource["kind"],
            "person": PERSON,
            "organisation": None,
            "person_region": region,
            "region": region,
            "start": start,
            "end": end,
            "status": "confirmed",
            "created_at": stamp(datetime.now(UTC)),
            "sequence": 0,
            "changed_by": None,
        }
        data = {"booking_id": booking["id"]} | {f: booking[f] for f in EVENT_FIELDS}  # the contract's
        event = CloudEvent(
            type=BOOKED.get(resource["kind"], BOOKED_OTHER),
            source=f"/regions/{region}/facilities",
            data=data,
            region=region,
            partitionkey=cmd.resource_id,
            subject=booking["id"],
        )
        new = {**(doc or {}), "_id": key, "resource_id": cmd.resource_id, "day": day, "bookings": [*bookings, booking]}
        return new, [event], booking

    return await _write(store, key, step)


async def _book_minimal(store: SqliteStore, cmd: BookResource, region: str) -> Response:
    """A lighter write than the platform's: a 6-field record, the event's data that record: 201, 404 or 409."""
    resource = await store.get(RESOURCES, cmd.resource_id)
    if resource is None:
        return _not_found()
    start, end = cmd.start.astimezone(UTC), cmd.end.astimezone(UTC)
    key = f"{cmd.resource_id}:{start.date().isoformat()}"

    async def step(doc: dict[str, Any] | None) -> tuple[dict[str, Any], list[CloudEvent], dict[str, Any]]:
        bookings = list((doc or {}).get("bookings", []))
        if _overlaps(bookings, start.isoformat(), end.isoformat()):
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

    return await _write(store, key, step)


async def seed(store: SqliteStore, resources: Sequence[str], write: str = "same", region: str = "IE05") -> None:
    """The resources to book, as the write stores them: the platform's documents and indexes (``same``),
    or a name each (``minimal``)."""
    if write == "minimal":
        await store.ensure_index(SCHEDULES, ["outbox_pending"])  # what the relay looks for
        for rid in resources:
            await store.insert(RESOURCES, {"_id": rid, "name": rid})
        return
    await ensure_indexes(store)
    hours = OpeningHours.from_doc({d: [{"open": "00:00", "close": "23:59"}] for d in WEEKDAYS})
    policy = BookingPolicy(max_duration_minutes=60, max_days_ahead=365)
    for rid in resources:
        r = Resource(rid, SITE, rid, "hot_desk", 1, policy, region, "UTC", hours, f"{region}:Bench")
        await store.insert(RESOURCES, resource_to_doc(r))


async def relay(data: Path) -> None:
    """The bare endpoint's outbox relay, run in a process of its own beside it, as the split API's worker runs
    the platform's: the platform's ``OutboxRelay`` publishes the events its writes put in a day's outbox to
    an embedded event log (its own file) and removes them from the document, so that the bare endpoint's
    days carry no more events than the platform's do. Never stops (bench.contention ends the process)."""
    store = SqliteStore(data / "bare.sqlite")
    bus = SqliteBus(data / "events.sqlite")
    await bus.start()
    try:
        await OutboxRelay("bare", store, bus, {SCHEDULES: "facilities.events"}).run()
    finally:
        await bus.close()
        await store.close()


def relay_command(data: Path, niceness: str) -> list[str]:
    """The command running ``relay`` beside the endpoint serving in ``data``, at ``niceness`` (as ``nice``)."""
    return ["nice", "-n", niceness, sys.executable, "-m", "bench.bare_booking", "--data", str(data), "--relay"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, help="where to serve (not with --relay)")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--resources", help="comma-separated resource ids to create (not with --relay)")
    p.add_argument("--framework", choices=("starlette", "fastapi"), default="starlette")
    p.add_argument("--write", choices=WRITES, default="same", help="the platform's store write, or a lighter one")
    p.add_argument("--relay", action="store_true", help="run the outbox relay of the endpoint serving in --data")
    a = p.parse_args()
    if a.relay:
        asyncio.run(relay(a.data))
        return
    if a.port is None or a.resources is None:
        p.error("--port and --resources are needed to serve")
    store = SqliteStore(a.data / "bare.sqlite")
    asyncio.run(seed(store, a.resources.split(","), a.write))
    store = SqliteStore(a.data / "bare.sqlite")  # a fresh connection thread for the server's loop
    served = fastapi_app(store, write=a.write) if a.framework == "fastapi" else app(store, write=a.write)
    freeze_startup_heap()  # the collector's settings of `clustergrowth run`: process tuning is not the platform's work
    uvicorn.run(served, host="127.0.0.1", port=a.port, log_level="warning", access_log=False, http="httptools")


if __name__ == "__main__":
    main()
