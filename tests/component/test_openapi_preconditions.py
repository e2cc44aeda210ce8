"""The OpenAPI description documents conditional updates: every operation that takes ``If-Match`` lists
the answers ``clustergrowth.etags.check`` gives, 412 (a stale or weak tag) and 428 (no tag, or ``*``), as
problem+json. Checked on the gateway's merged description and on each service's own, so that a new
route taking If-Match cannot leave them out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from clustergrowth.errors import PROBLEM_JSON
from clustergrowth.settings import RuntimeSettings
from instance.app import create_app as gateway_app
from services.facilities.app import create_app as facilities_app
from services.mapping.app import create_app as mapping_app
from services.matching.app import create_app as matching_app

APPS: dict[str, Callable[[RuntimeSettings], FastAPI]] = {
    "gateway": gateway_app,
    "facilities": facilities_app,
    "mapping": mapping_app,
    "matching": matching_app,
}


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", seed_demo=False)


def conditional_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every operation with an If-Match header parameter."""
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if isinstance(op, dict)
        and any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in op.get("parameters", []))
    ]


@pytest.mark.parametrize("app", APPS)
def test_every_operation_taking_if_match_documents_412_and_428(app: str, settings: RuntimeSettings) -> None:
    spec = APPS[app](settings).openapi()
    operations = conditional_operations(spec)
    if app in ("gateway", "matching"):  # the challenges' publish and ranking: guarded against lost updates
        assert len(operations) >= 2, [(m, p) for m, p, _ in operations]
    missing = [
        f"{method} {path}: {status}"
        for method, path, op in operations
        for status in ("412", "428")
        if PROBLEM_JSON not in op.get("responses", {}).get(status, {}).get("content", {})
    ]
    assert missing == [], "\n".join(missing)
