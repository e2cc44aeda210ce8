"""Backup and restore of one region: every service's database and the event log, in a folder.

The store is exported by its own adapter's means, with no outside tool:
- embedded (SQLite): each ``store/<database>.sqlite`` copied with SQLite's online backup API;
- MongoDB / FerretDB: each collection as canonical extended JSON lines (``bson.json_util``, so dates,
  ObjectIds and 64-bit integers come back as they were) and its indexes (``mongodump`` is not required).
The event log: the embedded ``events.sqlite`` (records and consumer-group offsets) with the backup API;
on Kafka, every record of the region's topics as JSON lines (topic, partition, key, headers, value), which
``restore`` publishes again in order. A ``manifest.json`` says what the folder holds.

Region secrets: the training service's Open Badge signing key (``CG_TRAINING_CREDENTIAL_KEY_FILE``, or the
development key ``$CG_DATA_DIR/training-credentials/<region>-ed25519.pem``) is region state: credentials
issued before a restore must keep verifying. It goes to ``secrets/`` with file mode 0600 and the manifest
marks it sensitive; restore writes it back where the restoring region reads it (0600). Left out on purpose:
the web client's session key (``web/session.key``: a new one only signs people out) and the development
token issuer's key (``dev-issuer/``: mint new tokens; production regions use their OpenID Connect issuer).

Take a backup of a stopped region (or one whose writes are paused): the store and the log are copied
one after the other, and events published between the two copies would be in one and not the other.
Restore goes into an empty region (a fresh data folder or empty databases); ``replace=True`` overwrites.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from clustergrowth.settings import RuntimeSettings

FORMAT = 1
MANIFEST = "manifest.json"
BATCH = 1000


class Folder:
    """The backup folder's files (plain blocking I/O: the commands run alone, not inside a server)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, relative: str) -> TextIO:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w")

    def open(self, relative: str) -> TextIO:
        return (self.root / relative).open()

    def names(self, folder: str, suffix: str) -> list[str]:
        """The files in ``folder`` ending with ``suffix``, named without it, sorted."""
        where = self.root / folder
        return sorted(p.name.removesuffix(suffix) for p in where.glob(f"*{suffix}")) if where.is_dir() else []

    def exists(self, relative: str) -> bool:
        return (self.root / relative).exists()


class BackupError(Exception):
    """The backup or restore cannot proceed; the message says why and what to do."""


@dataclass(frozen=True)
class Summary:
    """What a backup or restore handled: documents per database, events per topic."""

    documents: dict[str, int]
    events: dict[str, int]


def databases() -> list[str]:
    """Every registered service's database name (its ``CG_<SERVICE>_DATABASE``)."""
    from instance.registry import specs

    return [s.component.settings_class().database for s in specs()]


def logical_topics() -> list[str]:
    """The services' event topics, without the region's topic prefix (``facilities.events``)."""
    from contracts import topics

    return topics()


def topics(settings: RuntimeSettings) -> list[str]:
    """The region's event topics as the services publish them (with the topic prefix)."""
    return [settings.topic(t) for t in logical_topics()]


# Secrets -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Secret:
    """A file of region state that must survive a restore and is sensitive (kept 0600)."""

    name: str  # its file in the backup, under secrets/
    path: Path  # where this region reads it
    what: str


def secrets(settings: RuntimeSettings) -> list[Secret]:
    """The region's secrets a backup carries: the training credential signing key, where the training
    service reads it (``services.training.modules.attach``: the setting, else the development key)."""
    from services.training.modules import CredentialSettings

    key = CredentialSettings().key_file or settings.data_dir / "training-credentials" / f"{settings.region}-ed25519.pem"
    what = "the Open Badge credential signing key (Ed25519): credentials issued before a restore keep verifying"
    return [Secret("training-credential-key.pem", key, what)]


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (0600 from creation, then renamed over)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)  # whatever the umask
    os.replace(tmp, path)


def _backup_secrets(settings: RuntimeSettings, out: Path) -> list[dict[str, Any]]:
    listed = []
    for s in secrets(settings):
        if s.path.is_file():
            _write_private(out / "secrets" / s.name, s.path.read_bytes())
            listed.append({"file": f"secrets/{s.name}", "what": s.what, "sensitive": True, "mode": "0600"})
    return listed


def _secrets_to_restore(
    settings: RuntimeSettings, src: Path, manifest: dict[str, Any], replace: bool
) -> list[tuple[Secret, Path]]:
    """The backup's secrets and where this region reads them; refuses (before anything is written) to
    overwrite a different one without ``replace``."""
    listed = {str(e["file"]) for e in manifest.get("secrets", [])}
    todo = [(s, src / "secrets" / s.name) for s in secrets(settings) if f"secrets/{s.name}" in listed]
    if not replace:
        clash = [s for s, f in todo if s.path.exists() and s.path.read_bytes() != f.read_bytes()]
        if clash:
            raise BackupError(
                f"the region already has another {clash[0].name} ({clash[0].path}): restore into a new data "
                "folder (CG_DATA_DIR), or overwrite with --replace"
            )
    return todo


def _restore_secrets(todo: list[tuple[Secret, Path]]) -> None:
    for s, f in todo:
        try:
            _write_private(s.path, f.read_bytes())
        except OSError as e:
            raise BackupError(f"cannot write {s.name} to {s.path}: {e}") from None


# SQLite ------------------------------------------------------------------------------------------------
def _sqlite_copy(src: Path, dst: Path) -> int:
    """Copy a live SQLite database with the online backup API; returns its page count."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file (the stores reopen it in WAL)
        return int(target.execute("PRAGMA page_count").fetchone()[0])
    finally:
        target.close()
        source.close()


def _sqlite_documents(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'c\\_%' ESCAPE '\\'")
        ]
        return sum(int(db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]) for t in tables)
    finally:
        db.close()


def _log_counts(path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: int(n) for t, n in db.execute("SELECT topic, COUNT(*) FROM log GROUP BY topic ORDER BY topic")}
    finally:
        db.close()


# MongoDB -----------------------------------------------------------------------------------------------
def _mongo_client(settings: RuntimeSettings) -> Any:
    from pymongo import AsyncMongoClient

    from clustergrowth.store.mongo import client_options

    return AsyncMongoClient(settings.mongo_url, **client_options(settings))


async def _mongo_export(settings: RuntimeSettings, names: list[str], out: Folder) -> dict[str, int]:
    from bson import json_util

    client = _mongo_client(settings)
    counts: dict[str, int] = {}
    try:
        for name in names:
            db = client[name]
            counts[name] = 0
            for collection in sorted(await db.list_collection_names()):
                indexes = [
                    {"keys": list(spec["key"]), "unique": bool(spec.get("unique", False)), "name": index}
                    for index, spec in (await db[collection].index_information()).items()
                    if index != "_id_"
                ]
                with out.create(f"store/{name}/{collection}.indexes.json") as f:
                    f.write(json.dumps(indexes, indent=1) + "\n")
                with out.create(f"store/{name}/{collection}.jsonl") as f:
                    async for doc in db[collection].find({}).sort("_id", 1):
                        f.write(json_util.dumps(doc, json_options=json_util.CANONICAL_JSON_OPTIONS) + "\n")
                        counts[name] += 1
    finally:
        await client.close()
    return counts


async def _mongo_import(settings: RuntimeSettings, src: Folder, names: list[str], replace: bool) -> dict[str, int]:
    from bson import json_util

    client = _mongo_client(settings)
    counts: dict[str, int] = {}
    try:
        for name in names:
            db = client[name]
            collections = src.names(f"store/{name}", ".jsonl")
            existing = set(await db.list_collection_names())
            busy = [c for c in collections if c in existing and await db[c].estimated_document_count()]
            if busy and not replace:
                raise BackupError(
                    f"database {name} already holds {', '.join(busy)}: restore into empty databases, "
                    "or overwrite with --replace"
                )
            counts[name] = 0
            for c in collections:
                collection = db[c]
                await collection.drop()
                batch: list[Any] = []
                with src.open(f"store/{name}/{c}.jsonl") as f:
                    for line in f:
                        batch.append(json_util.loads(line, json_options=json_util.CANONICAL_JSON_OPTIONS))
                        if len(batch) == BATCH:
                            await collection.insert_many(batch, ordered=True)
                            counts[name] += len(batch)
                            batch = []
                if batch:
                    await collection.insert_many(batch, ordered=True)
                    counts[name] += len(batch)
                with src.open(f"store/{name}/{c}.indexes.json") as f:
                    indexes = json.load(f)
                for index in indexes:
                    keys = [(k, d) for k, d in index["keys"]]
                    await collection.create_index(keys, unique=index["unique"], name=index["name"])
    finally:
        await client.close()
    return counts


# Kafka -------------------------------------------------------------------------------------------------
def _b64(b: bytes | None) -> str | None:
    return None if b is None else base64.b64encode(b).decode()


def _unb64(s: str | None) -> bytes | None:
    return None if s is None else base64.b64decode(s)


async def _partitions(consumer: Any, names: list[str]) -> list[Any]:
    from aiokafka import TopicPartition

    await consumer._client.force_metadata_update()
    return [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or set())]


async def _kafka_export(settings: RuntimeSettings, out: Folder) -> dict[str, int]:
    from aiokafka import AIOKafkaConsumer

    from clustergrowth.bus.kafka import client_options

    consumer = AIOKafkaConsumer(**client_options(settings), client_id="clustergrowth-backup", group_id=None)
    await consumer.start()
    counts: dict[str, int] = {}
    try:
        for logical in logical_topics():
            topic = settings.topic(logical)
            tps = await _partitions(consumer, [topic])
            counts[topic] = 0
            with out.create(f"events/{logical}.jsonl") as f:  # named without the prefix: restorable under another
                if not tps:
                    continue
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                end = await consumer.end_offsets(tps)
                while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                    batch = await consumer.getmany(*tps, timeout_ms=1000)
                    for tp, records in sorted(batch.items(), key=lambda kv: kv[0].partition):
                        for r in records:
                            if r.offset >= end[tp]:
                                continue
                            row = {
                                "partition": tp.partition,
                                "offset": r.offset,
                                "timestamp": r.timestamp,
                                "key": _b64(r.key),
                                "headers": [[k, _b64(v)] for k, v in r.headers],
                                "value": _b64(r.value),
                            }
                            f.write(json.dumps(row) + "\n")
                            counts[topic] += 1
    finally:
        await consumer.stop()
    return counts


async def _kafka_import(settings: RuntimeSettings, src: Folder, replace: bool) -> dict[str, int]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from clustergrowth.bus import open_bus
    from clustergrowth.bus.kafka import client_options

    names = topics(settings)
    bus = open_bus(settings, client_id="clustergrowth-restore")
    await bus.ensure_topics(names)
    await bus.close()
    probe = AIOKafkaConsumer(**client_options(settings), client_id="clustergrowth-restore", group_id=None)
    await probe.start()
    try:
        ends = await probe.end_offsets(await _partitions(probe, names))
    finally:
        await probe.stop()
    if any(ends.values()) and not replace:
        raise BackupError(
            "the region's topics already hold events: restore into an empty cluster, or overwrite with --replace"
        )
    producer = AIOKafkaProducer(
        **client_options(settings), client_id="clustergrowth-restore", acks="all", enable_idempotence=True
    )
    await producer.start()
    counts: dict[str, int] = {}
    try:
        for logical in logical_topics():
            topic = settings.topic(logical)
            counts[topic] = 0
            if not src.exists(f"events/{logical}.jsonl"):
                continue
            futures = []
            with src.open(f"events/{logical}.jsonl") as f:
                for line in f:
                    row = json.loads(line)
                    sent = await producer.send(
                        topic,
                        key=_unb64(row["key"]),
                        value=_unb64(row["value"]),
                        headers=[(k, _unb64(v) or b"") for k, v in row["headers"]],
                        partition=row["partition"],
                        timestamp_ms=row["timestamp"],
                    )
                    futures.append(sent)
                    counts[topic] += 1
                    if len(futures) == BATCH:  # bounded: wait for the broker every BATCH records
                        await asyncio.gather(*futures)
                        futures = []
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return counts


# The two commands --------------------------------------------------------------------------------------
def backup(settings: RuntimeSettings, out: Path, names: list[str] | None = None) -> Summary:
    """Write the region's databases and event log under ``out`` (which must be empty or new)."""
    names = names if names is not None else databases()
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: back up into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    if settings.store == "sqlite":
        documents = {}
        for name in names:
            src = settings.data_dir / "store" / f"{name}.sqlite"
            if src.exists():
                _sqlite_copy(src, out / "store" / f"{name}.sqlite")
                documents[name] = _sqlite_documents(out / "store" / f"{name}.sqlite")
    else:
        documents = asyncio.run(_mongo_export(settings, names, Folder(out)))
    if settings.bus == "sqlite":
        log = settings.data_dir / "events.sqlite"
        events = {}
        if log.exists():
            _sqlite_copy(log, out / "events.sqlite")
            events = _log_counts(out / "events.sqlite")
    else:
        events = asyncio.run(_kafka_export(settings, Folder(out)))
    kept = _backup_secrets(settings, out)
    manifest = {
        "format": FORMAT,
        "region": settings.region,
        "store": settings.store,
        "bus": settings.bus,
        "topic_prefix": settings.topic_prefix,
        "created_at": datetime.now(UTC).isoformat(),
        "databases": names,
        "documents": documents,
        "events": events,
        "secrets": kept,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return Summary(documents, events)


def read_manifest(src: Path) -> dict[str, Any]:
    try:
        manifest = dict(json.loads((src / MANIFEST).read_text()))
    except (OSError, ValueError) as e:
        raise BackupError(f"{src} is not a backup ({MANIFEST}: {e})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{src}: backup format {manifest.get('format')!r}, this version reads {FORMAT}")
    return manifest


def restore(settings: RuntimeSettings, src: Path, *, replace: bool = False) -> Summary:
    """Load a backup into the region the settings name (same region; store and bus kinds as backed up)."""
    manifest = read_manifest(src)
    if manifest["region"] != settings.region:
        raise BackupError(f"the backup is of region {manifest['region']}, this region is {settings.region}")
    for kind in ("store", "bus"):
        if manifest[kind] != getattr(settings, kind):
            raise BackupError(
                f"the backup's {kind} is {manifest[kind]}, this region's is {getattr(settings, kind)}: "
                f"restore with CG_{kind.upper()}={manifest[kind]}"
            )
    names = list(manifest["databases"])
    keys = _secrets_to_restore(settings, src, manifest, replace)
    if settings.store == "sqlite":
        targets = [settings.data_dir / "store" / f"{n}.sqlite" for n in names]
        if settings.bus == "sqlite":
            targets.append(settings.data_dir / "events.sqlite")
        present = [str(t) for t in targets if t.exists()]
        if present and not replace:
            raise BackupError(
                f"the region already has data ({', '.join(present)}): restore into a new data folder "
                "(CG_DATA_DIR), or overwrite with --replace"
            )
        documents = {}
        for name in names:
            src_db = src / "store" / f"{name}.sqlite"
            if src_db.exists():
                for suffix in ("-wal", "-shm"):
                    (settings.data_dir / "store" / f"{name}.sqlite{suffix}").unlink(missing_ok=True)
                _sqlite_copy(src_db, settings.data_dir / "store" / f"{name}.sqlite")
                documents[name] = _sqlite_documents(settings.data_dir / "store" / f"{name}.sqlite")
    else:
        documents = asyncio.run(_mongo_import(settings, Folder(src), names, replace))
    if settings.bus == "sqlite":
        events: dict[str, int] = {}
        if (src / "events.sqlite").exists():
            for suffix in ("-wal", "-shm"):
                (settings.data_dir / f"events.sqlite{suffix}").unlink(missing_ok=True)
            _sqlite_copy(src / "events.sqlite", settings.data_dir / "events.sqlite")
            events = _log_counts(settings.data_dir / "events.sqlite")
    else:
        events = asyncio.run(_kafka_import(settings, Folder(src), replace))
    _restore_secrets(keys)
    return Summary(documents, events)
