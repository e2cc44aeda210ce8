"""MongoDB-protocol adapter (MongoDB, FerretDB) over PyMongo's native asyncio API."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from clustergrowth.store.port import Doc, DuplicateKey, check_portable


class MongoStore:
    """Document store port over ``AsyncMongoClient``; one database per service."""

    def __init__(self, url: str, database: str, client: AsyncMongoClient[Any] | None = None) -> None:
        self._own_client = client is None
        self._client: AsyncMongoClient[Any] = client or AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=5000, retryWrites=False
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
        try:
            result = await self._db[collection].replace_one({"_id": doc["_id"], "version": expected_version}, new)
        except DuplicateKeyError as e:
            raise DuplicateKey(str(e)) from e
        return result.matched_count == 1

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

    async def count(self, collection: str, filter: Doc | None = None) -> int:
        return int(await self._db[collection].count_documents(filter or {}))

    async def delete(self, collection: str, id: str) -> bool:
        result = await self._db[collection].delete_one({"_id": id})
        return result.deleted_count == 1

    async def ensure_index(self, collection: str, fields: list[str], *, unique: bool = False) -> None:
        await self._db[collection].create_index([(f, ASCENDING) for f in fields], unique=unique)

    async def ping(self) -> None:
        await self._client.admin.command("ping")

    async def close(self) -> None:
        if self._own_client:
            await self._client.close()
