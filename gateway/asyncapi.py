"""The AsyncAPI 3.0 description of the region's event streams, generated from the event contracts.

One channel per service topic as the outbox relay publishes it (``<prefix><service>.events``) and one
for its MirrorMaker 2 replicas in another region (default replication policy: ``<alias>.<topic>``, the
alias being the source region's NUTS-2 code in lower case, e.g. ``ie05.facilities.events``). Each
message is a CloudEvent in Kafka binary content mode, as ``clustergrowth.envelope.CloudEvent.to_kafka``
writes it: ``ce_*`` headers, ``content-type``, W3C ``traceparent``, the aggregate id as the record key
and the event data (the committed JSON Schema of its type) as the value.

PII: every property of every message says its class in ``x-pii`` and every message lists its
pseudonymous and free-text properties. ``free-text``: text a person wrote (a reason, a display name),
which may contain personal data whatever the form asked for; the contracts mark it on the field
(``json_schema_extra={"x-pii": "free-text"}``), so the committed schemas carry it and this generator
reads it from them. ``pseudonymous``: platform person ids and token subjects (personal data under GDPR
Art. 4(5)), the properties ``PSEUDONYMOUS`` names. ``none``: everything else (ids of SMEs,
organisations, resources; codes; counts; times).

``clustergrowth asyncapi`` writes the committed copy (docs/asyncapi.yaml); the gateway serves it at
``/asyncapi.json`` and ``/asyncapi.yaml``.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
from typing import Any

import yaml
from fastapi import FastAPI
from fastapi.responses import Response

from clustergrowth.envelope import CONTENT_TYPE, SPECVERSION
from clustergrowth.settings import RuntimeSettings
from contracts import modules, registry
from contracts.schemas import generated

# Properties holding a platform person id or a token subject: pseudonymous personal data. Every other
# property of the contracts is classified "none" (ids of SMEs, organisations, resources; codes; counts;
# times). A new property that names a person must be added here (a test looks for person-like ones).
PSEUDONYMOUS = frozenset({"person", "candidate", "applicant", "cancelled_by"})
PII_NOTE = (
    "pseudonymous: a platform person id or token subject (personal data under GDPR Art. 4(5): keep it "
    "inside the analytics environment, never join it with names); free-text: written by a person (a reason, "
    "a display name), may contain personal data (names, circumstances) whatever the form asked for: treat it "
    "as personal data, keep it inside the analytics environment and out of published figures; none: no "
    "personal data"
)
CLASSES = ("pseudonymous", "free-text", "none")
RETENTION_MS = -1  # the log is what projections are rebuilt from: event topics keep their history
EXAMPLE_TIME = "2026-03-02T09:00:00+00:00"
EXAMPLE_PERSON = "p-01hqz8k3m5n7p9r1s3t5v7w9xa"
KAFKA_BINDING = "0.5.0"


def pii_class(prop: str, schema: dict[str, Any] | None = None) -> str:
    """The classification of a data property: the contract's own ``x-pii`` marker (``free-text``) when
    its committed schema has one, else ``pseudonymous`` for a person id, else ``none``."""
    marked = (schema or {}).get("x-pii")
    if marked is not None:
        if marked not in CLASSES:
            raise ValueError(f"property {prop}: x-pii {marked!r} is not one of {', '.join(CLASSES)}")
        return str(marked)
    return "pseudonymous" if prop in PSEUDONYMOUS else "none"


def _headers_schema(event_type: str) -> dict[str, Any]:
    """The record headers as ``CloudEvent.to_kafka`` writes them (binary content mode)."""
    s = {"type": "string"}
    return {
        "type": "object",
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "content-type",
            "traceparent",
            "ce_time",
            "ce_region",
            "ce_partitionkey",
        ],
        "properties": {
            "ce_specversion": {"const": SPECVERSION, "description": "CloudEvents spec version"},
            "ce_id": {**s, "description": "event id (UUID): consumers de-duplicate by it", "x-pii": "none"},
            "ce_source": {**s, "description": "producer: /regions/<NUTS-2>/<service>", "x-pii": "none"},
            "ce_type": {"const": event_type, "description": "versioned event type"},
            "content-type": {"const": CONTENT_TYPE, "description": "of the record value"},
            "traceparent": {
                **s,
                "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                "description": "W3C trace context of the request that caused the event",
            },
            "ce_time": {**s, "description": "when the event happened, ISO 8601 with offset"},
            "ce_region": {
                **s,
                "pattern": "^[A-Z]{2}[0-9A-Z]{2}$",
                "description": "NUTS-2 code of the producing region",
            },
            "ce_partitionkey": {**s, "description": "the aggregate id, equal to the record key", "x-pii": "none"},
            "ce_subject": {**s, "description": "the object the event is about, if other than the key", "x-pii": "none"},
            "ce_requestid": {**s, "description": "X-Request-ID of the request that caused the event"},
        },
    }


def _payload(schema: dict[str, Any]) -> dict[str, Any]:
    """A committed JSON Schema as an AsyncAPI payload: its properties classified (``x-pii``)."""
    out = copy.deepcopy(schema)
    out.pop("$schema", None)  # the message says its schema format
    for name, prop in out.get("properties", {}).items():
        prop["x-pii"] = pii_class(name, prop)
    return out


def _example(schema: dict[str, Any], prop: dict[str, Any], name: str) -> Any:
    """A plausible value for a property (checked against the committed schema by the tests)."""
    if "$ref" in prop:
        prop = schema.get("$defs", {}).get(prop["$ref"].split("/")[-1], {})
    if "const" in prop:
        return prop["const"]
    if "enum" in prop:
        return prop["enum"][0]
    if "anyOf" in prop:
        first = next((p for p in prop["anyOf"] if p.get("type") != "null"), {"type": "null"})
        return _example(schema, first, name)
    kind = prop.get("type")
    text = prop.get("description", "")
    if kind == "string":
        if name in PSEUDONYMOUS:
            return EXAMPLE_PERSON
        if name.endswith("region"):
            return "IE05"
        if "ISO 8601 date" in text or name == "due":
            return "2026-03-02"
        if name.endswith("_at") or "ISO 8601" in text:
            return EXAMPLE_TIME
        if name.endswith("_id") or name == "organisation":
            return f"{name.removesuffix('_id')}-0001"
        return prop.get("examples", [name])[0]
    if kind == "integer":
        return max(int(prop.get("minimum", 1)), 1)
    if kind == "number":
        return float(prop.get("minimum", 1.0))
    if kind == "boolean":
        return False
    if kind == "array":
        return [_example(schema, prop.get("items", {}), name.removesuffix("s"))]
    if kind == "object":
        extra = prop.get("additionalProperties")
        return {"key": _example(schema, extra, "key")} if isinstance(extra, dict) else {}
    return None


def example_payload(schema: dict[str, Any]) -> dict[str, Any]:
    """Example event data for a committed schema: every property, required or not."""
    return {n: _example(schema, p, n) for n, p in schema.get("properties", {}).items()}


def _message(event_type: str, schema: dict[str, Any], service: str, key_note: str) -> dict[str, Any]:
    model = registry()[event_type]
    classes = {n: pii_class(n, p) for n, p in schema.get("properties", {}).items()}
    pseudonymous = sorted(n for n, c in classes.items() if c == "pseudonymous")
    free_text = sorted(n for n, c in classes.items() if c == "free-text")
    headers = {
        "ce_specversion": SPECVERSION,
        "ce_id": "8a3c2d5e-4b1f-4c8e-9d2a-1f0e3b4c5d6e",
        "ce_source": f"/regions/IE05/{service}",
        "ce_type": event_type,
        "content-type": CONTENT_TYPE,
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "ce_time": EXAMPLE_TIME,
        "ce_region": "IE05",
        "ce_partitionkey": "aggregate-0001",
    }
    return {
        "name": model.name,
        "title": f"{model.name} (v{model.version})",
        "summary": (model.__doc__ or model.name).strip().splitlines()[0],
        "description": " ".join((model.__doc__ or "").split()),
        "contentType": CONTENT_TYPE,
        "headers": _headers_schema(event_type),
        "payload": {
            "schemaFormat": "application/schema+json;version=draft-07",
            "schema": _payload(schema),
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": key_note, "x-pii": "none"},
                "bindingVersion": KAFKA_BINDING,
            }
        },
        "examples": [{"name": f"{model.name}-example", "headers": headers, "payload": example_payload(schema)}],
        "x-pii": {"pseudonymous": pseudonymous, "free-text": free_text, "classes": PII_NOTE},
    }


def _topic_of(service: str) -> str:
    return str(importlib.import_module(f"contracts.{service}").TOPIC)


def document(topic_prefix: str = "", region: str = "IE05", partitions: int = 3, replication: int = 1) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for a region whose topics carry ``topic_prefix``."""
    schemas = generated()
    by_service: dict[str, list[str]] = {}
    for t, model in sorted(registry().items()):
        by_service.setdefault(model.service, []).append(t)
    key_note = (
        "record key = the id of the aggregate whose write caused the event (its ce_partitionkey); one "
        "aggregate's events share a partition and keep their order"
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for service in modules():
        types = by_service.get(service, [])
        if not types:
            continue
        topic = f"{topic_prefix}{_topic_of(service)}"
        refs = {}
        for t in types:
            messages[t] = _message(t, schemas[t], service, key_note)
            refs[registry()[t].name] = {"$ref": f"#/components/messages/{t}"}
        config = {"cleanup.policy": ["delete"], "retention.ms": RETENTION_MS}
        local, replicated = f"{service}Events", f"{service}EventsReplicated"
        channels[local] = {
            "address": topic,
            "title": topic,
            "description": (
                f"Events of the {service} service of this region. Unlimited retention (retention.ms=-1): "
                "the log is what projections are rebuilt from; a consumer may replay it from the start."
            ),
            "messages": refs,
            "bindings": {
                "kafka": {
                    "topic": topic,
                    "partitions": partitions,
                    "replicas": replication,
                    "topicConfiguration": config,
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
        channels[replicated] = {
            "address": "{sourceRegion}." + topic,
            "title": f"<region>.{topic}",
            "description": (
                f"A partner region's {service} events, replicated here by MirrorMaker 2 (default replication "
                "policy). Offsets differ from the source and redelivery happens: de-duplicate by ce_id."
            ),
            "parameters": {"sourceRegion": {"$ref": "#/components/parameters/sourceRegion"}},
            "messages": refs,
        }
        for channel in (local, replicated):
            operations[f"receive{channel[0].upper()}{channel[1:]}"] = {
                "action": "receive",
                "title": f"Read {channels[channel]['title']}",
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in refs],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "SME Cluster Growth — regional event streams",
            "version": "1",
            "description": (
                f"The domain events of a regional instance (this one: {region}), for analytics consumers. "
                "Each Kafka record is a CloudEvent 1.0 in binary content mode: attributes in ce_* headers, the "
                "JSON event data as the value, the aggregate id as the key. Types are versioned "
                "(eu.smeclustergrowth.<service>.<Name>.v<N>); a compatible change only adds optional "
                "properties. Read them with `clustergrowth events` or export them with `clustergrowth export`. "
                f"PII classes (x-pii): {PII_NOTE}."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "regional": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "title": "The region's Kafka cluster",
                "description": (
                    "Bootstrap servers of the hosting partner's Kafka; production listeners use TLS and "
                    "SASL/SCRAM (ask the hosting partner for credentials)."
                ),
                "variables": {"bootstrap": {"description": "host:port of a bootstrap broker"}},
            },
            "regionalSecure": {
                "host": "{bootstrap}",
                "protocol": "kafka-secure",
                "title": "The region's Kafka cluster, production listener",
                "description": (
                    "TLS listener of a production region (it refuses plaintext): SASL/SCRAM-SHA-512 over TLS "
                    "(CG_KAFKA_SECURITY_PROTOCOL=SASL_SSL) or a client certificate (SSL)."
                ),
                "variables": {"bootstrap": {"description": "host:port of a bootstrap broker's TLS listener"}},
                "security": [
                    {"$ref": "#/components/securitySchemes/scram"},
                    {"$ref": "#/components/securitySchemes/clientCertificate"},
                ],
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "securitySchemes": {
                "scram": {"type": "scramSha512", "description": "SASL/SCRAM-SHA-512 user of the hosting partner"},
                "clientCertificate": {"type": "X509", "description": "mutual TLS with a client certificate"},
            },
            "messages": messages,
            "parameters": {
                "sourceRegion": {
                    "description": "MirrorMaker 2 alias of the source region: its NUTS-2 code in lower case",
                    "examples": ["ie05", "ith5", "es51"],
                }
            },
        },
    }


class _PlainDumper(yaml.SafeDumper):
    """Writes a shared value again where it recurs, not as a YAML anchor and alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(doc: dict[str, Any]) -> str:
    """The committed form: YAML, keys in document order, Unicode kept, no anchors."""
    return yaml.dump(doc, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=120)


@functools.lru_cache(maxsize=8)
def _rendered(topic_prefix: str, region: str, partitions: int, replication: int) -> tuple[bytes, str]:
    doc = document(topic_prefix, region, partitions, replication)
    return json.dumps(doc, ensure_ascii=False).encode(), to_yaml(doc)


def install_asyncapi(app: FastAPI, settings: RuntimeSettings) -> None:
    """Serve the document for this region's topics (public, like the OpenAPI description); built at the
    first request, not with the app."""
    key = (settings.topic_prefix, settings.region, settings.kafka_partitions, settings.kafka_replication)

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_json() -> Response:
        return Response(_rendered(*key)[0], media_type="application/json")

    @app.get("/asyncapi.yaml", include_in_schema=False)
    async def asyncapi_yaml() -> Response:
        return Response(_rendered(*key)[1], media_type="application/yaml")
