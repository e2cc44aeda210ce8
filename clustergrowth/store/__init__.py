"""Document-store port and its adapters (embedded SQLite, MongoDB-protocol servers)."""

from clustergrowth.store.port import DocumentStore, DuplicateKey, UnportableDocument, matches

__all__ = ["DocumentStore", "DuplicateKey", "UnportableDocument", "matches"]


def open_store(settings: object, database: str) -> DocumentStore:
    """The adapter the settings ask for, bound to one service's database."""
    from clustergrowth.settings import RuntimeSettings

    assert isinstance(settings, RuntimeSettings)
    if settings.store == "mongo":
        from clustergrowth.store.mongo import MongoStore, client_options

        return MongoStore(
            settings.mongo_url, database, write_locks=settings.mongo_write_locks, options=client_options(settings)
        )
    from clustergrowth.store.sqlite import SqliteStore

    return SqliteStore(settings.data_dir / "store" / f"{database}.sqlite")
