"""Fixtures of the web client's browser journeys (helpers in ``tests/e2e/webkit.py``)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, sync_playwright

from tests.backends import free_port, provision
from tests.e2e.webkit import CHROMIUM_ARGS, CLI


@pytest.fixture(scope="module")
def stack_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web")


@pytest.fixture(scope="module")
def stack(stack_data: Path) -> Iterator[str]:
    """``clustergrowth run`` on a free port with its own data; its base URL."""
    tmp = stack_data
    port = free_port()
    env = {**os.environ, "CG_DATA_DIR": str(tmp / "data"), "CG_LOG_LEVEL": "WARNING"}
    with open(tmp / "run.log", "ab") as log:
        proc = subprocess.Popen([CLI, "run", "--host", "127.0.0.1", "--port", str(port)], env=env, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the stack did not start: {(tmp / 'run.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = provision("chromium")
    assert os.access(path, os.X_OK), f"no Chromium at {path}"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()
