"""CloudEvents 1.0 envelope and its Kafka binary-mode encoding (``ce_*`` headers, JSON data as value)."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clustergrowth import ids, telemetry

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
# Attributes carried as ce_* headers, besides id/source/type/specversion which are required.
_OPTIONAL = ("time", "subject", "region", "partitionkey", "requestid")


_ids = random.Random()  # trace context ids need to be random, not secret (W3C Trace Context §3.2.2.3)
os.register_at_fork(after_in_child=_ids.seed)  # a forked worker must not repeat its parent's ids


def new_traceparent() -> str:
    """A fresh W3C traceparent (version 00, sampled). From a seeded PRNG rather than two ``os.urandom``
    system calls: those were 4 % of a booking's CPU samples (py-spy). All-zero ids are invalid: drawn again."""
    bits = 0
    while bits >> 64 == 0 or bits & 0xFFFFFFFFFFFFFFFF == 0:
        bits = _ids.getrandbits(192)
    return f"00-{bits >> 64:032x}-{bits & 0xFFFFFFFFFFFFFFFF:016x}-01"


def _traceparent() -> str:
    """The current span's context when tracing is on and a span is current (the event continues the
    request's or the handled event's trace), else a fresh one."""
    if telemetry.enabled():
        return telemetry.current_traceparent() or new_traceparent()
    return new_traceparent()


@dataclass(frozen=True)
class CloudEvent:
    """One domain event as it travels: type is versioned, region and partitionkey always set."""

    type: str
    source: str
    data: dict[str, Any]
    region: str
    partitionkey: str
    subject: str | None = None
    id: str = field(default_factory=ids.uuid4_str)
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    specversion: str = SPECVERSION
    traceparent: str = field(default_factory=_traceparent)
    requestid: str | None = None

    @property
    def name(self) -> str:
        """The short event name: ``eu.smeclustergrowth.facilities.DeskBooked.v1`` -> ``DeskBooked``."""
        parts = self.type.split(".")
        return parts[-2] if len(parts) >= 2 and parts[-1].startswith("v") else parts[-1]

    def to_dict(self) -> dict[str, Any]:
        """Structured-mode JSON (used in outboxes, the CLI and dead-letter diagnostics)."""
        d: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "datacontenttype": CONTENT_TYPE,
            "time": self.time,
            "region": self.region,
            "partitionkey": self.partitionkey,
            "traceparent": self.traceparent,
            "data": self.data,
        }
        if self.subject:
            d["subject"] = self.subject
        if self.requestid:
            d["requestid"] = self.requestid
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CloudEvent:
        return cls(
            type=d["type"],
            source=d["source"],
            data=d.get("data") or {},
            region=d["region"],
            partitionkey=d["partitionkey"],
            subject=d.get("subject"),
            id=d["id"],
            time=d["time"],
            specversion=d.get("specversion", SPECVERSION),
            traceparent=d.get("traceparent") or new_traceparent(),
            requestid=d.get("requestid"),
        )

    # Kafka binary mode ---------------------------------------------------------------------------
    def to_kafka(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) for a Kafka record in CloudEvents binary content mode."""
        headers = [
            ("ce_specversion", self.specversion.encode()),
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("content-type", CONTENT_TYPE.encode()),
            ("traceparent", self.traceparent.encode()),
        ]
        for attr in _OPTIONAL:
            value = getattr(self, attr)
            if value:
                headers.append((f"ce_{attr}", str(value).encode()))
        value_bytes = json.dumps(self.data, separators=(",", ":"), sort_keys=True).encode()
        return self.partitionkey.encode(), value_bytes, headers

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> CloudEvent:
        """Decode a binary-mode record; raises ValueError when required attributes are missing."""
        h = {k: v.decode() for k, v in headers}
        missing = [a for a in ("ce_id", "ce_source", "ce_type", "ce_specversion") if a not in h]
        if missing:
            raise ValueError(f"not a CloudEvent: missing headers {missing}")
        return cls(
            type=h["ce_type"],
            source=h["ce_source"],
            data=json.loads(value) if value else {},
            region=h.get("ce_region", ""),
            partitionkey=h.get("ce_partitionkey") or (key.decode() if key else ""),
            subject=h.get("ce_subject"),
            id=h["ce_id"],
            time=h.get("ce_time", ""),
            specversion=h["ce_specversion"],
            traceparent=h.get("traceparent") or new_traceparent(),
            requestid=h.get("ce_requestid"),
        )
