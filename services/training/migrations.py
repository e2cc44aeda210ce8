"""Data migrations of the training service (none yet: it was born with identities keyed by issuer)."""

from __future__ import annotations

from clustergrowth.migrations import Migration

MIGRATIONS: tuple[Migration, ...] = ()
