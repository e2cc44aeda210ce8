"""MongoDB-protocol adapter (MongoDB, FerretDB) over PyMongo's native asyncio API.

MongoDB applies a single-document conditional update atomically, so ``replace`` is one
``replace_one({_id, version})``. FerretDB v1 (SQLite handler) does not: measured here, two concurrent
``replace_one``/``update_one``/``find_one_and_*`` calls on the same version both succeed in about a
third of races. Its unique-key inserts are atomic, so with ``write_locks`` every compare-and-set runs
under a per-document lock taken by inserting ``write_locks/{collection}/{id}`` (stale locks expire).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.errors import DuplicateKeyError, OperationFailure

from clustergrowth import ids
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.port import OUTBOX, PENDING, Doc, DuplicateKey, check_page, check_portable, seek_filter

NAMESPACE_NOT_FOUND, INDEX_NOT_FOUND = 26, 27  # the server's error codes: no such collection, no such index


def client_options(settings: RuntimeSettings) -> dict[str, Any]:
    """``AsyncMongoClient`` keyword arguments for the settings' credentials and TLS (the URL's own options
    stay; these add to them). The password comes from its secret, never from the URL."""
    opts: dict[str, Any] = {}
    if settings.mongo_username:
        opts["username"] = settings.mongo_username
    if settings.mongo_password is not None:
        opts["password"] = settings.mongo_password.get_secret_value()
    if settings.mongo_auth_source:
        opts["authSource"] = settings.mongo_auth_source
    if settings.mongo_tls:
        opts["tls"] = True
    if settings.mongo_tls_ca_file:
        opts["tlsCAFile"] = str(settings.mongo_tls_ca_file)
    if settings.mongo_tls_certificate_key_file:
        opts["tlsCertificateKeyFile"] = str(settings.mongo_tls_certificate_key_file)
    return opts


class MongoStore:
    """Document store port over ``AsyncMongoClient``; one database per service."""

    def __init__(
        self,
        url: str,
        database: str,
        client: AsyncMongoClient[Any] | None = None,
        *,
        write_locks: bool = False,
        lock_ttl_s: float = 10.0,
        options: dict[str, Any] | None = None,
    ) -> None:
        """``options``: more ``AsyncMongoClient`` arguments, ``client_options(settings)`` (credentials, TLS)."""
        self.write_locks = write_locks
        self.lock_ttl_s = lock_ttl_s
        self._own_client = client is None
        self._client: AsyncMongoClient[Any] = client or AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=5000, retryWrites=False, **(options or {})
        )
        self._db = self._client[database]

    async def get(self, collection: str, id: str) -> Doc | None:
        doc: Doc | None = await self._db[collection].find_one({"_id": id})
        return doc

    async def insert(self, collection: str, doc: Doc) -> None:
        check_portable(doc)
        try:
            await self._db[collection].insert_one({**doc, "version": 1})
        except DuplicateKeyError as e:
            raise DuplicateKey(str(e)) from e

    async def replace(self, collection: str, doc: Doc, expected_version: int) -> bool:
        check_portable(doc)
        new = {**doc, "version": expected_version + 1}
        if not self.write_locks:
            return await self._replace(collection, new, expected_version)
        async with self._locked(collection, doc["_id"]):
            return await self._replace(collection, new, expected_version)

    async def replace_with_outbox(self, collection: str, doc: Doc, events: list[Doc], expected_version: int) -> bool:
        """One guarded replace: ``drop_outbox`` changes the version here, so the outbox ``doc`` was read with
        is the stored one whenever the guard lets the write through."""
        outbox = list(doc.get(OUTBOX) or []) + events
        return await self.replace(collection, {**doc, OUTBOX: outbox, PENDING: bool(outbox)}, expected_version)

    async def drop_outbox(self, collection: str, id: str, event_ids: set[str]) -> None:
        """Read, filter, guarded replace (the version goes up), again while another writer gets in first."""
        current = await self.get(collection, id)
        while current is not None:
            remaining = [e for e in current.get(OUTBOX) or [] if e["id"] not in event_ids]
            new = {**current, OUTBOX: remaining, PENDING: bool(remaining)}
            if await self.replace(collection, new, current["version"]):
                return
            current = await self.get(collection, id)

    async def _replace(self, collection: str, new: Doc, expected_version: int) -> bool:
        try:
            result = await self._db[collection].replace_one({"_id": new["_id"], "version": expected_version}, new)
        except DuplicateKeyError as e:
            raise DuplicateKey(str(e)) from e
        return result.matched_count == 1

    @asynccontextmanager
    async def _locked(self, collection: str, id: str, wait_s: float = 30.0) -> AsyncIterator[None]:
        """Hold a per-document lock: a unique insert, which FerretDB does apply atomically."""
        locks = self._db["write_locks"]
        key, token = f"{collection}/{id}", ids.uuid4().hex
        deadline, delay = time.monotonic() + wait_s, 0.001
        while True:
            try:
                await locks.insert_one({"_id": key, "token": token, "at": time.time()})
                break
            except DuplicateKeyError:
                held = await locks.find_one({"_id": key})
                if held is not None and time.time() - held["at"] > self.lock_ttl_s:
                    await locks.delete_one({"_id": key, "token": held["token"]})  # its holder died
                    continue
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not lock {key} within {wait_s}s") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            await locks.delete_one({"_id": key, "token": token})

    async def find(
        self,
        collection: str,
        filter: Doc | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        limit: int | None = None,
    ) -> list[Doc]:
        cursor = self._db[collection].find(filter or {})
        if sort:
            cursor = cursor.sort([(f, ASCENDING if d > 0 else DESCENDING) for f, d in sort])
        if limit:
            cursor = cursor.limit(limit)
        return [d async for d in cursor]

    async def page(
        self,
        collection: str,
        filter: Doc | None,
        sort: list[tuple[str, int]],
        after: list[Any] | None,
        limit: int,
    ) -> list[Doc]:
        """One query: the filter and the seek (``$or`` of the runs after the key), sorted, limited."""
        order = check_page(sort, after, limit)
        query = filter or {}
        if after is not None:
            seek = seek_filter(order, after)
            if seek is None:
                return []
            query = {"$and": [query, seek]} if query else seek
        cursor = self._db[collection].find(query)
        cursor = cursor.sort([(f, ASCENDING if d > 0 else DESCENDING) for f, d in order]).limit(limit)
        return [d async for d in cursor]

    async def count(self, collection: str, filter: Doc | None = None) -> int:
        return int(await self._db[collection].count_documents(filter or {}))

    async def delete(self, collection: str, id: str) -> bool:
        result = await self._db[collection].delete_one({"_id": id})
        return result.deleted_count == 1

    async def ensure_index(self, collection: str, fields: list[str], *, unique: bool = False) -> None:
        await self._db[collection].create_index([(f, ASCENDING) for f in fields], unique=unique)

    async def drop_index(self, collection: str, fields: list[str]) -> None:
        try:
            await self._db[collection].drop_index([(f, ASCENDING) for f in fields])
        except OperationFailure as e:
            if e.code not in (NAMESPACE_NOT_FOUND, INDEX_NOT_FOUND):
                raise

    async def ping(self) -> None:
        await self._client.admin.command("ping")

    async def close(self) -> None:
        if self._own_client:
            await self._client.close()
