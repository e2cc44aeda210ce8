"""The ``clustergrowth`` command: run the regional stack, mint development tokens, read events."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from clustergrowth.envelope import CloudEvent

CHECKOUT_DATA = Path(__file__).resolve().parents[1] / ".data"  # where `make run` keeps the stack's data


def _settings(data_dir: str | None = None):  # type: ignore[no-untyped-def]
    from clustergrowth.settings import RuntimeSettings

    try:
        if data_dir is not None:
            return RuntimeSettings(data_dir=Path(data_dir))
        if "CG_DATA_DIR" not in os.environ and not Path(".data").exists() and CHECKOUT_DATA.exists():
            return RuntimeSettings(data_dir=CHECKOUT_DATA)  # run from elsewhere: the stack `make run` started
        return RuntimeSettings()
    except ValidationError as e:
        sys.exit(f"clustergrowth: bad configuration:\n{e}")


DATA_DIR_HELP = "the stack's data folder (default: $CG_DATA_DIR, else ./.data, else the checkout's .data)"


def _no_stack(command: str, what: Path) -> int:
    print(
        f"clustergrowth {command}: no regional stack data at {what.parent.resolve()} ({what.name} is missing); "
        "start the stack with `make run`, or name its data folder with --data-dir or CG_DATA_DIR",
        file=sys.stderr,
    )
    return 1


def cmd_run(args: argparse.Namespace) -> int:
    """Start the gateway with every service (embedded by default) on 127.0.0.1:$PORT."""
    import uvicorn

    from clustergrowth import logs

    settings = _settings()
    logs.configure(settings.region, settings.log_level, settings.log_json)
    if settings.cpu_niceness:  # kept across the compiled front's exec below
        os.nice(settings.cpu_niceness)
    port = int(args.port or os.environ.get("PORT", "8000"))
    from gateway.app import GatewaySettings
    from instance.registry import spec, upstream_urls

    if args.service == "edge":
        from gateway.front import edge_command

        try:
            gw = GatewaySettings()
            command, env = edge_command(gw, upstream_urls(gw), args.host, port, settings)
        except ValueError as e:  # a ValidationError, or the quota store's settings refused
            sys.exit(f"clustergrowth: bad configuration:\n{e}")
        print(f"clustergrowth: gateway front (compiled) on http://{args.host}:{port}", file=sys.stderr)
        os.execve(command[0], command, env)  # the front replaces this process (signals reach it directly)
    if args.service == "gateway":
        from instance.app import create_app

        try:
            app = create_app(settings, GatewaySettings())
        except (ValueError, OSError) as e:  # settings, or a part's refusal at build (quota store, web key, files)
            sys.exit(f"clustergrowth: bad configuration:\n{e}")
    else:
        try:
            app = spec(args.service).app(settings)
        except (ValueError, OSError) as e:  # settings, or a part's refusal at build (training key, TLS files)
            sys.exit(f"clustergrowth: bad configuration:\n{e}")
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

    settings = _settings(args.data_dir)
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
    issuer = DevIssuer(settings.data_dir)
    if not issuer.key_path.exists():  # a fresh key would sign tokens the running stack refuses (401)
        return _no_stack("token", issuer.key_path)
    print(issuer.mint(settings, args.sub, args.role, args.region, args.org, args.ttl))
    print(f"clustergrowth token: {args.sub} is person {person_id(settings.auth_issuer, args.sub)}", file=sys.stderr)
    return 0


async def _events(args: argparse.Namespace) -> int:
    from contracts import registry, resolve_type
    from contracts import topics as all_topics
    from instance.events import ReadError, Reading, check_group, nothing_found, parse_start, parse_time, read
    from instance.registry import specs

    settings = _settings(args.data_dir)
    wanted = resolve_type(args.type) if args.type else None
    if args.type and not wanted:
        print(
            f"clustergrowth events: unknown event type {args.type!r}; known: {', '.join(sorted(registry()))}",
            file=sys.stderr,
        )
        return 2
    try:
        check_group(args.group, settings, [s.name for s in specs()])
        reading = Reading(
            topics=args.topic or [settings.topic(t) for t in all_topics()],
            start=parse_start(args.start),
            group=args.group,
            follow=args.follow,
            max=args.max,
            until=parse_time(args.until, "--until") if args.until else None,
            types=frozenset(wanted) if wanted else None,
        )
    except ReadError as e:
        print(f"clustergrowth events: {e}", file=sys.stderr)
        return 2
    if settings.bus == "sqlite" and not (settings.data_dir / "events.sqlite").exists():
        return _no_stack("events", settings.data_dir / "events.sqlite")

    def emit(topic: str, event: CloudEvent) -> None:
        sys.stdout.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        sys.stdout.flush()

    try:
        found = await read(settings, reading, emit)
    except ReadError as e:
        print(f"clustergrowth events: {e}", file=sys.stderr)
        return 2
    if not found:
        print(f"clustergrowth events: {nothing_found(reading)}", file=sys.stderr)
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """Print events as JSON lines (one CloudEvent each) from the local log or Kafka."""
    try:
        return asyncio.run(_events(args))
    except KeyboardInterrupt:
        return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    """Write the JSON Schema of every event type under the schemas folder."""
    from contracts.schemas import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    """Write the role-by-route table generated from the gateway's OpenAPI description."""
    from gateway.routes import roles_markdown
    from instance.app import create_app

    text = roles_markdown(create_app(_settings()).openapi())
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text)
        print(args.out)
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    """Write the AsyncAPI 3.0 description of the event streams (YAML; JSON for a .json file)."""
    from gateway.asyncapi import document, to_yaml

    doc = document(args.topic_prefix, args.region)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n" if args.out.endswith(".json") else to_yaml(doc)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text)
        print(args.out)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Back up the region's databases and event log into a new folder."""
    from instance.backup import BackupError, backup

    settings = _settings(args.data_dir)
    try:
        summary = backup(settings, Path(args.out))
    except BackupError as e:
        print(f"clustergrowth backup: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"out": args.out, "documents": summary.documents, "events": summary.events}))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore a backup folder into this region (a new data folder or empty databases)."""
    from instance.backup import BackupError, restore

    settings = _settings(args.data_dir)
    try:
        summary = restore(settings, Path(args.src), replace=args.replace)
    except BackupError as e:
        print(f"clustergrowth restore: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"from": args.src, "documents": summary.documents, "events": summary.events}))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export the events of a time range to Parquet, partitioned by region, type and date."""
    from contracts import registry, resolve_type
    from instance.events import ReadError, parse_time
    from instance.export import export, export_topics, nothing_found

    settings = _settings(args.data_dir)
    wanted = resolve_type(args.type) if args.type else None
    if args.type and not wanted:
        known = ", ".join(sorted(registry()))
        print(f"clustergrowth export: unknown event type {args.type!r}; known: {known}", file=sys.stderr)
        return 2
    try:
        since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until")
    except ReadError as e:
        print(f"clustergrowth export: {e}", file=sys.stderr)
        return 2
    if until <= since:
        print("clustergrowth export: --until must be after --since", file=sys.stderr)
        return 2
    if settings.bus == "sqlite" and not (settings.data_dir / "events.sqlite").exists():
        return _no_stack("export", settings.data_dir / "events.sqlite")
    try:
        done = export(
            settings,
            Path(args.out),
            since,
            until,
            topics=args.topic,
            types=frozenset(wanted) if wanted else None,
            progress=not args.quiet,
        )
    except ReadError as e:
        print(f"clustergrowth export: {e}", file=sys.stderr)
        return 2
    if not done.events:
        message = nothing_found(done, since, until, export_topics(settings, args.topic), typed=bool(wanted))
        print(f"clustergrowth export: {message}", file=sys.stderr)
    print(json.dumps({"out": args.out, "events": done.events, "partitions": done.partitions}))
    return 0


def main(argv: list[str] | None = None) -> int:
    from instance.registry import specs

    p = argparse.ArgumentParser(prog="clustergrowth", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "run",
        help="start the regional stack (gateway + services), one service, or the gateway's compiled front (edge)",
    )
    r.add_argument("service", nargs="?", default="gateway", choices=["gateway", "edge", *(s.name for s in specs())])
    r.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    r.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    r.set_defaults(fn=cmd_run)

    t = sub.add_parser("token", help="print a development JWT (embedded issuer only)")
    t.add_argument("--sub", required=True, help="subject: the person's stable id")
    t.add_argument("--role", action="append", required=True, help="a role; repeat for several")
    t.add_argument("--region", required=True, help="NUTS-2 code of the person's home region")
    t.add_argument("--org", default=None, help="organisation of the person")
    t.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    t.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    t.set_defaults(fn=cmd_token)

    e = sub.add_parser("events", help="print events as CloudEvents JSON lines")
    e.add_argument("--type", default=None, help="event name (DeskBooked) or full versioned type")
    e.add_argument("--topic", action="append", default=None, help="topic(s); default: every service's")
    e.add_argument("--follow", action="store_true", help="keep printing new events")
    e.add_argument(
        "--from",
        dest="start",
        default=None,
        help="earliest, latest or an ISO 8601 time (default: the group's position, else earliest)",
    )
    e.add_argument("--group", default=None, help="read as this consumer group, committing what was read")
    e.add_argument("--max", type=int, default=None, help="stop after this many events")
    e.add_argument("--until", default=None, help="stop at the first event after this ISO 8601 time")
    e.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    e.set_defaults(fn=cmd_events)

    for service in specs():
        for command in service.commands:
            c = sub.add_parser(command.name, help=command.help)
            command.configure(c)
            c.set_defaults(fn=command.run)

    s = sub.add_parser("schemas", help="regenerate the committed event JSON Schemas")
    s.add_argument("--out", default="schemas/events")
    s.set_defaults(fn=cmd_schemas)

    rt = sub.add_parser("routes", help="regenerate docs/authorization.md (roles per route)")
    rt.add_argument("--out", default="docs/authorization.md", help="a file, or - for standard output")
    rt.set_defaults(fn=cmd_routes)

    aa = sub.add_parser("asyncapi", help="regenerate docs/asyncapi.yaml (the event streams' AsyncAPI 3.0 document)")
    aa.add_argument("--out", default="docs/asyncapi.yaml", help="a .yaml or .json file, or - for standard output")
    aa.add_argument("--topic-prefix", default="", help="the region's CG_TOPIC_PREFIX (the committed copy: none)")
    aa.add_argument("--region", default="IE05", help="NUTS-2 code named in the description")
    aa.set_defaults(fn=cmd_asyncapi)

    x = sub.add_parser("export", help="export the events of a time range to Parquet (region/type/date partitions)")
    x.add_argument("--out", required=True, help="the dataset's folder (re-running merges by event id)")
    x.add_argument("--since", required=True, help="ISO 8601 time, included (UTC when it names no offset)")
    x.add_argument("--until", required=True, help="ISO 8601 time, excluded")
    x.add_argument("--type", default=None, help="only this event type (DeskBooked or a full versioned type)")
    x.add_argument("--topic", action="append", default=None, help="topic(s); default: every service's")
    x.add_argument("--quiet", action="store_true", help="no progress bar")
    x.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    x.set_defaults(fn=cmd_export)

    b = sub.add_parser("backup", help="back up the region (store and event log) into a new folder; stop it first")
    b.add_argument("--out", required=True, help="a new or empty folder")
    b.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    b.set_defaults(fn=cmd_backup)

    rs = sub.add_parser("restore", help="restore a backup folder into this region (new data folder or empty databases)")
    rs.add_argument("src", help="a folder written by `clustergrowth backup`")
    rs.add_argument("--replace", action="store_true", help="overwrite the region's existing data")
    rs.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    rs.set_defaults(fn=cmd_restore)

    args = p.parse_args(argv)
    try:
        return int(args.fn(args))
    except ValidationError as e:
        sys.exit(f"clustergrowth: bad configuration:\n{e}")


if __name__ == "__main__":
    sys.exit(main())
