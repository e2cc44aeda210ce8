"""Backup and restore of an embedded region: a region restored from a backup answers as the original did.

The original is the seeded demo region (its store and the events its outboxes published); the restored
one starts from the backup alone (no demo seeding). The oracle is the original's own answers to the same
reads, taken before the backup, and its event log read back by event id. A region started empty, with no
restore, answers differently: the comparison can fail.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from datetime import UTC, datetime
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
    with pytest.raises(BackupError, match=r"already has data .*overwrite with --replace"):
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


ISSUED = datetime(2027, 3, 4, 12, tzinfo=UTC)  # the training service's clock: after the module's one session
MODULE = {
    "title": "Lean operations",
    "description": "Flow and waste.",
    "practices": ["ops_lean"],
    "language": "en",
    "format": "in_person",
    "duration_hours": 2,
    "capacity": 5,
    "sessions": [{"title": "Flow", "start": "2027-03-02T10:00:00+00:00", "end": "2027-03-02T12:00:00+00:00"}],
}


def training_at(app: Any, when: datetime) -> None:
    (training,) = [c for c in app.state.components if c.name == "training"]
    training.context.clock = lambda: when


async def verified(settings: RuntimeSettings, credential: str) -> Any:
    """The region's public verify route's answer for ``credential`` (no token), its clock at ISSUED."""
    app = create_app(settings, GatewaySettings(rate_limits=False))
    training_at(app, ISSUED)
    async for client in asgi_client(app):
        r = await client.post("/api/v1/training/credentials/verify", json={"credential": credential})
        assert r.status_code == 200, r.text
        return r.json()


async def test_a_credential_issued_before_the_backup_verifies_after_the_restore(tmp_path: Path) -> None:
    original = region(tmp_path / "original", seed=False)
    app = create_app(original, GatewaySettings(rate_limits=False))
    training_at(app, datetime(2027, 3, 1, 9, tzinfo=UTC))
    issuer = DevIssuer(original.data_dir)
    staff = {"Authorization": f"Bearer {issuer.mint(original, 'coord', ['region_admin'], 'IE05', None)}"}
    fay = {"Authorization": f"Bearer {issuer.mint(original, 'fay', ['student'], 'IE05', None)}"}
    api = "/api/v1/training"
    async for client in asgi_client(app):
        r = await client.post(f"{api}/modules", json=MODULE, headers=staff)
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
        r = await client.post(f"{api}/modules/{mid}/enrolments", headers=fay)
        assert r.status_code == 201, r.text
        training_at(app, ISSUED)
        roster = (await client.get(f"{api}/modules/{mid}/enrolments", headers=staff)).json()
        me = roster[0]["person"]
        r = await client.put(f"{api}/modules/{mid}/sessions/1/attendance", json={"present": [me]}, headers=staff)
        assert r.status_code == 200, r.text
        r = await client.post(f"{api}/enrolments/{roster[0]['id']}/complete", headers=staff)
        assert r.status_code == 200, r.text
        credential = (await client.get(f"{api}/credentials/{r.json()['credential_id']}", headers=fay)).json()["jwt"]
    assert (await verified(original, credential))["valid"] is True

    backup(original, tmp_path / "backup")
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["secrets"] == [
        {
            "file": "secrets/training-credential-key.pem",
            "what": manifest["secrets"][0]["what"],
            "sensitive": True,
            "mode": "0600",
        }
    ]
    kept = tmp_path / "backup" / "secrets" / "training-credential-key.pem"
    key = original.data_dir / "training-credentials" / "IE05-ed25519.pem"
    assert kept.read_bytes() == key.read_bytes()
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert not (tmp_path / "backup" / "web").exists() and not (tmp_path / "backup" / "dev-issuer").exists()

    restored = region(tmp_path / "restored", seed=False)
    restore(restored, tmp_path / "backup")
    written = restored.data_dir / "training-credentials" / "IE05-ed25519.pem"
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o600
    answer = await verified(restored, credential)
    assert answer["valid"] is True, answer

    # the control: a region of the same name started without the restore has another key
    answer = await verified(region(tmp_path / "fresh", seed=False), credential)
    assert answer["valid"] is False and answer["checks"]["signature"] is False


def test_restore_refuses_to_overwrite_another_signing_key_without_replace(tmp_path: Path) -> None:
    from services.training.modules import badges

    source = region(tmp_path / "source", seed=False)
    badges.load_or_create_key(source.data_dir / "training-credentials" / "IE05-ed25519.pem")
    backup(source, tmp_path / "bk", [])
    target = region(tmp_path / "target", seed=False)
    other = target.data_dir / "training-credentials" / "IE05-ed25519.pem"
    badges.load_or_create_key(other)
    before = other.read_bytes()
    with pytest.raises(BackupError, match=r"another training-credential-key\.pem .*--replace"):
        restore(target, tmp_path / "bk")
    assert other.read_bytes() == before
    restore(target, tmp_path / "bk", replace=True)
    assert other.read_bytes() == (tmp_path / "bk" / "secrets" / "training-credential-key.pem").read_bytes()
    same = region(tmp_path / "same", seed=False)  # the same key there already: no clash
    (same.data_dir / "training-credentials").mkdir(parents=True)
    (same.data_dir / "training-credentials" / "IE05-ed25519.pem").write_bytes(other.read_bytes())
    restore(same, tmp_path / "bk")
