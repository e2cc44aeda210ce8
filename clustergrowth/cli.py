"""The ``clustergrowth`` command: run the regional stack, mint development tokens, read events."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError


def _settings():  # type: ignore[no-untyped-def]
    from clustergrowth.settings import RuntimeSettings

    try:
        return RuntimeSettings()
    except ValidationError as e:
        sys.exit(f"clustergrowth: bad configuration:\n{e}")


def cmd_run(args: argparse.Namespace) -> int:
    """Start the gateway with every service (embedded by default) on 127.0.0.1:$PORT."""
    import uvicorn

    from clustergrowth import logs

    settings = _settings()
    logs.configure(settings.region, settings.log_level, settings.log_json)
    port = int(args.port or os.environ.get("PORT", "8000"))
    if args.service == "edge":
        from pydantic import ValidationError

        from gateway.app import GatewaySettings
        from gateway.front import edge_command

        try:
            command, env = edge_command(GatewaySettings(), args.host, port)
        except ValidationError as e:
            sys.exit(f"clustergrowth: bad configuration:\n{e}")
        print(f"clustergrowth: gateway front (compiled) on http://{args.host}:{port}", file=sys.stderr)
        os.execve(command[0], command, env)  # the front replaces this process (signals reach it directly)
    if args.service == "gateway":
        from gateway.app import create_app

        app = create_app(settings)
    elif args.service == "facilities":
        from services.facilities.app import create_app as facilities_app

        app = facilities_app(settings)
    elif args.service == "mapping":
        from services.mapping.app import create_app as mapping_app

        app = mapping_app(settings)
    elif args.service == "matching":
        from services.matching.app import create_app as matching_app

        app = matching_app(settings)
    else:  # pragma: no cover - argparse restricts choices
        return 2
    print(
        f"clustergrowth: {args.service} for region {settings.region} on http://{args.host}:{port} "
        f"(store={settings.store}, bus={settings.bus}, data={settings.data_dir})",
        file=sys.stderr,
    )
    from clustergrowth.httpserver import uvicorn_options  # bounded request heads; X-Forwarded-* from trusted proxies

    uvicorn.run(
        app,
        host=args.host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        **uvicorn_options(settings),
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Print a development token; refuses when a production issuer is configured."""
    from clustergrowth.auth import ROLES, DevIssuer, person_id

    settings = _settings()
    if not settings.dev_issuer:
        print(
            f"clustergrowth token: refused: a production issuer ({settings.auth_issuer}) is configured; "
            "get tokens from it",
            file=sys.stderr,
        )
        return 2
    bad = [r for r in args.role if r not in ROLES]
    if bad:
        print(f"clustergrowth token: unknown role(s) {bad}; known: {', '.join(ROLES)}", file=sys.stderr)
        return 2
    from clustergrowth.settings import NUTS2

    if not NUTS2.match(args.region):
        print(f"clustergrowth token: --region {args.region!r} is not a NUTS-2 code", file=sys.stderr)
        return 2
    print(DevIssuer(settings.data_dir).mint(settings, args.sub, args.role, args.region, args.org, args.ttl))
    print(f"clustergrowth token: {args.sub} is person {person_id(settings.auth_issuer, args.sub)}", file=sys.stderr)
    return 0


async def _events(args: argparse.Namespace) -> int:
    from clustergrowth.bus import open_bus
    from clustergrowth.contracts import registry, resolve_type

    settings = _settings()
    wanted = resolve_type(args.type) if args.type else None
    if args.type and not wanted:
        print(
            f"clustergrowth events: unknown event type {args.type!r}; known: {', '.join(sorted(registry()))}",
            file=sys.stderr,
        )
        return 2
    topics = args.topic or sorted({settings.topic(f"{m.service}.events") for m in registry().values()})
    if settings.bus == "sqlite" and not (settings.data_dir / "events.sqlite").exists():
        return 0
    bus = open_bus(settings, client_id="clustergrowth-cli")
    try:
        async for _, event in bus.read(topics, follow=args.follow):
            if wanted is None or event.type in wanted:
                sys.stdout.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
                sys.stdout.flush()
    finally:
        await bus.close()
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """Print events as JSON lines (one CloudEvent each) from the local log or Kafka."""
    try:
        return asyncio.run(_events(args))
    except KeyboardInterrupt:
        return 0


async def _rebuild(args: argparse.Namespace) -> int:
    from services.mapping.app import MappingService
    from services.mapping.settings import MappingSettings

    settings = _settings()
    service = MappingService(settings, MappingSettings(run_relay=False, run_consumers=False))
    try:
        await service.bus.start()
        print(json.dumps(await service.rebuild()))
    finally:
        await service.bus.close()
        await service.store.close()
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Rebuild a projection from the event log while the service keeps serving."""
    return asyncio.run(_rebuild(args))


def cmd_allocate(args: argparse.Namespace) -> int:
    """Solve an allocation instance file and print the allocation as JSON."""
    from services.matching.allocation.instance import InvalidInstance, parse
    from services.matching.allocation.optimal import optimal
    from services.matching.allocation.report import explain_all, report
    from services.matching.allocation.stable import stable

    try:
        data = json.loads(Path(args.instance).read_text())
    except (OSError, ValueError) as e:
        print(f"clustergrowth allocate: cannot read {args.instance}: {e}", file=sys.stderr)
        return 2
    try:
        inst = parse(data)
    except InvalidInstance as e:
        print(f"clustergrowth allocate: the instance has {len(e.problems)} problem(s):", file=sys.stderr)
        for problem in e.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    assigned = stable(inst) if args.mode == "stable" else optimal(inst, supervisor_ties=args.supervisor_ties)
    out = report(inst, assigned, args.mode)
    if args.explain:
        out["explanations"] = explain_all(inst, assigned)
    print(json.dumps(out, ensure_ascii=False))
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    """Write the JSON Schema of every event type under the schemas folder."""
    from clustergrowth.contracts.schemas import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    """Write the role-by-route table generated from the gateway's OpenAPI description."""
    from gateway.app import create_app
    from gateway.routes import roles_markdown

    text = roles_markdown(create_app(_settings()).openapi())
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text)
        print(args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="clustergrowth", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "run",
        help="start the regional stack (gateway + services), one service, or the gateway's compiled front (edge)",
    )
    r.add_argument(
        "service", nargs="?", default="gateway", choices=["gateway", "edge", "facilities", "mapping", "matching"]
    )
    r.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    r.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    r.set_defaults(fn=cmd_run)

    t = sub.add_parser("token", help="print a development JWT (embedded issuer only)")
    t.add_argument("--sub", required=True, help="subject: the person's stable id")
    t.add_argument("--role", action="append", required=True, help="a role; repeat for several")
    t.add_argument("--region", required=True, help="NUTS-2 code of the person's home region")
    t.add_argument("--org", default=None, help="organisation of the person")
    t.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    t.set_defaults(fn=cmd_token)

    e = sub.add_parser("events", help="print events as CloudEvents JSON lines")
    e.add_argument("--type", default=None, help="event name (DeskBooked) or full versioned type")
    e.add_argument("--topic", action="append", default=None, help="topic(s); default: every service's")
    e.add_argument("--follow", action="store_true", help="keep printing new events")
    e.set_defaults(fn=cmd_events)

    al = sub.add_parser("allocate", help="solve a student-project allocation instance (JSON) offline")
    al.add_argument("instance", help="path of the instance file")
    al.add_argument("--mode", choices=["stable", "optimal"], default="stable")
    al.add_argument(
        "--supervisor-ties",
        action="store_true",
        help="optimal mode: among equally good allocations prefer the supervisors' favourites (slower)",
    )
    al.add_argument("--explain", action="store_true", help="add why-this/why-not per student")
    al.set_defaults(fn=cmd_allocate)

    rb = sub.add_parser("rebuild", help="rebuild a projection from the event log (replay)")
    rb.add_argument("projection", choices=["mapping"], help="mapping: the cluster map")
    rb.set_defaults(fn=cmd_rebuild)

    s = sub.add_parser("schemas", help="regenerate the committed event JSON Schemas")
    s.add_argument("--out", default="schemas/events")
    s.set_defaults(fn=cmd_schemas)

    rt = sub.add_parser("routes", help="regenerate docs/authorization.md (roles per route)")
    rt.add_argument("--out", default="docs/authorization.md", help="a file, or - for standard output")
    rt.set_defaults(fn=cmd_routes)

    args = p.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
