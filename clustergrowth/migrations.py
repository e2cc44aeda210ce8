"""Versioned data migrations: each service lists its own; the component runs those not yet recorded, once.

A migration is recorded in the service's ``_migrations`` collection after it has run. Migrations are
written to be idempotent (a replica that starts at the same moment may run one too, and a crash between
running and recording runs it again), so "once" is the effect, not a lock.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clustergrowth.auth import ORG_ID_PATTERN, PERSON_ID_PATTERN, org_id, person_id
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.port import OUTBOX, DocumentStore, DuplicateKey, put

log = logging.getLogger("clustergrowth.migrations")
MIGRATIONS = "_migrations"
_PERSON = re.compile(PERSON_ID_PATTERN)
_ORG = re.compile(ORG_ID_PATTERN)


@dataclass(frozen=True)
class Identities:
    """How values written before people and organisations were keyed by their issuer are read now.

    A bare subject or organisation string belonged to the home issuer, unless the document says the person
    came from a partner region (a booking's ``person_region``), whose configured issuer then owns it.
    Values already in the new form are left as they are, so applying this twice changes nothing.
    """

    home_issuer: str
    home_region: str
    partners: dict[str, str] = field(default_factory=dict)  # partner region -> its issuer

    @classmethod
    def of(cls, settings: RuntimeSettings) -> Identities:
        return cls(settings.auth_issuer, settings.region, {p.region: p.issuer for p in settings.auth_partners})

    def person(self, value: Any, region: str | None = None) -> Any:
        if not isinstance(value, str) or _PERSON.match(value):
            return value
        return person_id(self.partners.get(region or "", self.home_issuer), value)

    def org(self, value: Any, region: str | None = None, *, namespace: str | None = None) -> Any:
        """An organisation claim of a person from ``region`` (a partner's, else the home issuer's); or,
        with ``namespace``, of an object that belongs to that region (a site and its resources)."""
        if not isinstance(value, str) or _ORG.match(value):
            return value
        return org_id(namespace or (region if region in self.partners else self.home_region), value)


def remap(doc: dict[str, Any], **fields: Callable[[Any], Any]) -> dict[str, Any]:
    """``doc`` with each named field that it has passed through its function (absent fields stay absent)."""
    return {k: fields[k](v) if k in fields else v for k, v in doc.items()}


Apply = Callable[[DocumentStore, Identities], Awaitable[int]]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Apply


async def rewrite(store: DocumentStore, collection: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Apply a pure ``change`` to every document of a collection (version-guarded; a lost race re-reads).

    A document's outbox, when the change leaves it as it was, is written as stored (``replace_with_outbox``):
    the relay of another process may have taken published events out since the read, without a new version
    on the embedded store, and a plain replace would put them back."""
    changed = 0
    for doc in await store.find(collection, {}):
        for _ in range(20):
            new = change(doc)
            keeps_outbox = OUTBOX in doc and new.get(OUTBOX) == doc[OUTBOX]
            if new == doc or await (
                store.replace_with_outbox(collection, new, [], doc["version"])
                if keeps_outbox
                else store.replace(collection, new, doc["version"])
            ):
                changed += new != doc
                break
            fresh = await store.get(collection, doc["_id"])
            if fresh is None:
                break
            doc = fresh
        else:
            raise RuntimeError(f"migration: {collection}/{doc['_id']} kept changing; start again to retry")
    return changed


async def rekey(store: DocumentStore, collection: str, key: Callable[[dict[str, Any]], str]) -> int:
    """Move documents whose ``_id`` is now ``key(doc)`` (insert the new one, then delete the old one)."""
    moved = 0
    for doc in await store.find(collection, {}):
        new_id = key(doc)
        if new_id == doc["_id"]:
            continue
        try:
            await store.insert(collection, {**doc, "_id": new_id})
        except DuplicateKey:
            pass  # moved by an earlier, interrupted run
        await store.delete(collection, doc["_id"])
        moved += 1
    return moved


async def run(store: DocumentStore, migrations: Iterable[Migration], identities: Identities) -> list[int]:
    """Run the migrations not yet recorded, in version order; returns the versions run now."""
    ran = []
    for m in sorted(migrations, key=lambda m: m.version):
        if await store.get(MIGRATIONS, str(m.version)) is not None:
            continue
        changed = await m.apply(store, identities)
        record = {"_id": str(m.version), "name": m.name, "changed": changed, "at": datetime.now(UTC).isoformat()}
        await put(store, MIGRATIONS, record)
        log.info("migration %s (%s) changed %d documents", m.version, m.name, changed)
        ran.append(m.version)
    return ran
