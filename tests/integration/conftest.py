"""Integration fixtures: a facilities service wired to the real MongoDB-protocol server and Kafka."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from clustergrowth.settings import RuntimeSettings
from services.facilities.settings import FacilitiesSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def real_settings(tmp_path: Path, mongo_url: str, kafka_bootstrap: str) -> RuntimeSettings:
    """Settings for one test: its own database name and its own topic namespace on the shared backends."""
    return RuntimeSettings(
        data_dir=tmp_path / "data",
        region="IE05",
        store="mongo",
        mongo_write_locks=True,
        mongo_url=mongo_url,
        bus="kafka",
        kafka_bootstrap=kafka_bootstrap,
        kafka_partitions=3,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        relay_interval_s=0.05,
    )


@pytest.fixture
def own() -> FacilitiesSettings:
    return FacilitiesSettings(database=f"facilities_{uuid.uuid4().hex[:10]}")
