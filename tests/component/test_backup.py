"""Backup and restore of an embedded region: a region restored from a backup answers as the original did.

The original is the seeded demo region (its store and the events its outboxes published); the restored
one starts from the backup alone (no demo seeding). The oracle is the original's own answers to the same
reads, taken before the backup, and its event log read back by event id. A region started empty, with no
restore, answers differently: the comparison can fail.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.auth import DevIssuer
from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from instance.app import create_app
from instance.backup import BackupError, backup, restore
from instance.cli import main
from tests.conftest import asgi_client
from tests.helpers import eventually

READS = [
    "/api/v1/facilities/sites",
    "/api/v1/facilities/resources",
    "/api/v1/mapping/smes",
    "/api/v1/mapping/cluster-map",
    "/api/v1/matching/challenges",
    "/api/v1/councils/councils",
    "/api/v1/training/modules",
    "/api/v1/training/summary",
]


def region(data: Path, seed: bool) -> RuntimeSettings:
    return RuntimeSettings(data_dir=data, region="IE05", seed_demo=seed, relay_interval_s=0.05)


async def answers(settings: RuntimeSettings) -> dict[str, Any]:
    """Each read's status and body, as a region analyst and admin; every pending event published first."""
    app = create_app(settings, GatewaySettings(rate_limits=False))
    token = DevIssuer(settings.data_dir).mint(settings, "auditor", ["region_admin", "analyst"], "IE05", None)
    out: dict[str, Any] = {}
    async for client in asgi_client(app):
        await eventually(lambda: settled(app, settings), what="every event published and consumed")
        for path in READS:
            r = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            out[path] = (r.status_code, r.json())
    return out


async def settled(app: Any, settings: RuntimeSettings) -> bool:
    """Every outbox published, and every consumer group committed up to the end of its topics."""
    published = [await c.relay.run_once() for c in app.state.components]
    if any(published):
        return False
    db = sqlite3.connect(settings.data_dir / "events.sqlite")
    try:
        ends = dict(db.execute("SELECT topic, MAX(seq) FROM log GROUP BY topic").fetchall())
        committed = {(g, t): s for g, t, s in db.execute("SELECT grp, topic, seq FROM offsets").fetchall()}
    finally:
        db.close()
    return all(
        committed.get((group, topic), 0) >= ends[topic]
        for c in app.state.components
        for group, topics, _ in c._consumers
        for topic in topics
        if topic in ends
    )


def log(settings: RuntimeSettings) -> dict[str, list[str]]:
    """Event ids per topic, in log order, read from the log file itself."""
    db = sqlite3.connect(settings.data_dir / "events.sqlite")
    try:
        rows = db.execute("SELECT topic, event FROM log ORDER BY seq").fetchall()
    finally:
        db.close()
    out: dict[str, list[str]] = {}
    for topic, event in rows:
        out.setdefault(topic, []).append(json.loads(event)["id"])
    return out


async def test_a_restored_region_answers_as_before(tmp_path: Path) -> None:
    original = region(tmp_path / "original", seed=True)
    before = await answers(original)
    assert all(status == 200 for status, _ in before.values()), before
    assert before["/api/v1/facilities/sites"][1], "the demo region has sites"
    events = log(original)
    assert sum(len(ids) for ids in events.values()) > 0

    summary = backup(original, tmp_path / "backup")
    assert summary.events == {t: len(ids) for t, ids in events.items()}
    assert sum(summary.documents.values()) > 0

    restored = region(tmp_path / "restored", seed=False)
    again = restore(restored, tmp_path / "backup")
    assert again == summary
    assert log(restored) == events
    assert await answers(restored) == before

    empty = await answers(region(tmp_path / "empty", seed=False))
    assert empty != before, "an empty region must answer differently, or this test proves nothing"


def test_restore_refuses_a_region_with_data_or_of_another_kind(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "store").mkdir(parents=True)
    db = sqlite3.connect(source / "store" / "facilities.sqlite")
    db.execute('CREATE TABLE "c_sites" (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)')
    db.execute('INSERT INTO c_sites VALUES (\'s1\', 1, \'{"_id": "s1", "version": 1}\')')
    db.commit()
    db.close()
    settings = region(source, seed=False)
    summary = backup(settings, tmp_path / "bk", ["facilities"])
    assert summary.documents == {"facilities": 1} and summary.events == {}
    files = sorted(str(p.relative_to(tmp_path / "bk")) for p in (tmp_path / "bk").rglob("*") if p.is_file())
    assert files == ["manifest.json", "store/facilities.sqlite"]  # self-contained: no -wal or -shm beside it
    with pytest.raises(BackupError, match="not empty"):
        backup(settings, tmp_path / "bk", ["facilities"])
    with pytest.raises(BackupError, match="already has data"):
        restore(settings, tmp_path / "bk")
    assert restore(settings, tmp_path / "bk", replace=True).documents == {"facilities": 1}
    other = RuntimeSettings(data_dir=tmp_path / "other", region="ITH5")
    with pytest.raises(BackupError, match="region IE05"):
        restore(other, tmp_path / "bk")
    mongo = RuntimeSettings(data_dir=tmp_path / "m", region="IE05", store="mongo")
    with pytest.raises(BackupError, match="CG_STORE=sqlite"):
        restore(mongo, tmp_path / "bk")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(BackupError, match="not a backup"):
        restore(settings, tmp_path / "nothing")


def test_the_commands_back_up_and_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "source"
    (source / "store").mkdir(parents=True)
    db = sqlite3.connect(source / "store" / "mapping.sqlite")
    db.execute('CREATE TABLE "c_smes" (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)')
    db.executemany("INSERT INTO c_smes VALUES (?, 1, '{}')", [("a",), ("b",)])
    db.commit()
    db.close()
    assert main(["backup", "--out", str(tmp_path / "bk"), "--data-dir", str(source)]) == 0
    assert json.loads(capsys.readouterr().out)["documents"]["mapping"] == 2
    assert main(["restore", str(tmp_path / "bk"), "--data-dir", str(tmp_path / "new")]) == 0
    assert json.loads(capsys.readouterr().out)["documents"]["mapping"] == 2
    assert main(["restore", str(tmp_path / "bk"), "--data-dir", str(tmp_path / "new")]) == 1
    assert "already has data" in capsys.readouterr().err
