"""Property-based fuzzing of the front door from its own API description (schemathesis): requests
generated from every operation's schema go to `clustergrowth run` over real HTTP; no answer may be a
5xx, and every answer must be documented (status code, content type, body schema)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.backends import free_port

CLI = str(Path(sys.executable).parent / "clustergrowth")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("CG_FUZZ_EXAMPLES", "25"))
# The same examples on every run, so a landing never depends on luck; CG_FUZZ_RANDOM=1 explores anew.
DERANDOMIZE = os.environ.get("CG_FUZZ_RANDOM") != "1"


@pytest.fixture(scope="session")
def front_door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A regional stack with demo data, quotas off (fuzzing is a flood by design), and an admin token."""
    data = tmp_path_factory.mktemp("fuzz") / "data"
    env = {**os.environ, "CG_DATA_DIR": str(data), "CG_LOG_LEVEL": "ERROR", "CG_GATEWAY_RATE_LIMITS": "false"}
    port = free_port()
    log = open(data.parent / "stack.log", "ab")  # the server writes to it until the end
    proc = subprocess.Popen([CLI, "run", "--port", str(port)], env=env, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"the stack did not start: {(data.parent / 'stack.log').read_text()}")
        token = subprocess.run(
            [CLI, "token", "--sub", "fuzzer", "--role", "platform_admin", "--region", "IE05", "--org", "fuzz"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        yield base, token
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _description() -> dict[str, Any]:
    """The gateway's API description, as `GET /openapi.json` serves it (built without starting anything)."""
    with tempfile.TemporaryDirectory() as d:
        spec: dict[str, Any] = create_app(RuntimeSettings(data_dir=Path(d) / "data")).openapi()
    return spec


schema = schemathesis.openapi.from_dict(_description()).include(path_regex="^/api/v1/")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
def test_no_server_errors_and_every_answer_is_documented(case: Any, front_door: tuple[str, str]) -> None:
    base, token = front_door
    case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
