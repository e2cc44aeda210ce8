"""``clustergrowth export`` on the embedded log: the range's events, once each, in Hive partitions by region,
type and day, read back with pyarrow. Events are written with known ids, times and regions; the expected
partitions and ids are written out by hand."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from instance.cli import main

DESK = "eu.smeclustergrowth.facilities.DeskBooked.v1"
SME = "eu.smeclustergrowth.mapping.SMERegistered.v1"


def event(i: str, time: str, kind: str = DESK, region: str = "IE05") -> CloudEvent:
    return CloudEvent(
        type=kind,
        source=f"/regions/{region}/test",
        data={"i": i, "person_region": "ITH5"},
        region=region,
        partitionkey="k",
        id=i,
        time=time,
    )


FIRST = [
    event("a", "2026-03-01T23:59:59.999999+00:00"),  # before the range
    event("b", "2026-03-02T00:00:00+00:00"),  # at since: in
    event("c", "2026-03-02T12:00:00+00:00"),
    event("d", "2026-03-02T13:00:00+00:00", SME),
    event("e", "2026-03-03T08:00:00+01:00", region="ITH5"),  # 07:00 UTC on the 3rd
    event("f", "2026-03-03T23:59:59.999999+00:00"),  # just before until: in
    event("g", "2026-03-04T00:00:00+00:00"),  # at until: out
]
LATER = [event("h", "2026-03-03T10:00:00+00:00"), event("i", "2026-03-04T10:00:00+00:00")]


def publish(data: Path, events: list[CloudEvent], topic: str = "facilities.events") -> None:
    async def write() -> None:
        bus = SqliteBus(data / "events.sqlite")
        await bus.publish(topic, events)
        await bus.close()

    asyncio.run(write())


def export(data: Path, out: Path, since: str, until: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    args = ["export", "--data-dir", str(data), "--out", str(out), "--since", since, "--until", until, "--quiet"]
    assert main(args) == 0
    return dict(json.loads(capsys.readouterr().out))


def dataset(out: Path) -> list[dict[str, object]]:
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    return sorted(table.to_pylist(), key=lambda r: str(r["id"]))


def test_a_range_exported_twice_and_overlapping_holds_every_event_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = tmp_path / "data", tmp_path / "lake"
    publish(data, FIRST[:3] + FIRST[4:])
    publish(data, [FIRST[3]], "mapping.events")
    first = export(data, out, "2026-03-02T00:00:00Z", "2026-03-04T00:00:00Z", capsys)
    assert first["events"] == 5
    assert first["partitions"] == {
        f"region=IE05/type={DESK}/date=2026-03-02": 2,
        f"region=IE05/type={DESK}/date=2026-03-03": 1,
        f"region=IE05/type={SME}/date=2026-03-02": 1,
        f"region=ITH5/type={DESK}/date=2026-03-03": 1,
    }
    rows = dataset(out)
    assert [(r["id"], r["region"], r["type"], r["date"]) for r in rows] == [
        ("b", "IE05", DESK, "2026-03-02"),
        ("c", "IE05", DESK, "2026-03-02"),
        ("d", "IE05", SME, "2026-03-02"),
        ("e", "ITH5", DESK, "2026-03-03"),
        ("f", "IE05", DESK, "2026-03-03"),
    ]
    assert json.loads(str(rows[0]["data"])) == {"i": "b", "person_region": "ITH5"}
    assert str(rows[3]["time"]) == "2026-03-03 07:00:00+00:00" and rows[3]["topic"] == "facilities.events"

    assert export(data, out, "2026-03-02T00:00:00Z", "2026-03-04T00:00:00Z", capsys)["events"] == 5
    assert dataset(out) == rows  # the same run again: nothing doubled

    publish(data, LATER)
    again = export(data, out, "2026-03-03T00:00:00Z", "2026-03-05T00:00:00Z", capsys)  # overlaps the 3rd
    assert again["events"] == 5  # e, f, g, h, i
    ids = [r["id"] for r in dataset(out)]
    assert ids == ["b", "c", "d", "e", "f", "g", "h", "i"]
    assert len(ids) == len(set(ids))
    day3 = pq.read_table(out / f"region=IE05/type={DESK}/date=2026-03-03" / "events.parquet")
    assert day3.column("id").to_pylist() == ["h", "f"]  # merged, sorted by time: h at 10:00, f at 23:59


def test_only_the_type_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out = tmp_path / "data", tmp_path / "lake"
    publish(data, FIRST[:3])
    publish(data, [FIRST[3]], "mapping.events")
    args = ["export", "--data-dir", str(data), "--out", str(out), "--quiet", "--type", "SMERegistered"]
    assert main([*args, "--since", "2026-03-01", "--until", "2026-03-05"]) == 0
    assert [r["id"] for r in dataset(out)] == ["d"]


@pytest.mark.parametrize(
    ("since", "until", "reason"),
    [
        ("2026-03-02", "2026-03-02", "--until must be after --since"),
        ("2026-03-03", "2026-03-02", "--until must be after --since"),
        ("soon", "2026-03-02", "--since 'soon': not an ISO 8601 time"),
        ("2026-03-02", "later", "--until 'later': not an ISO 8601 time"),
    ],
)
def test_a_bad_range_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], since: str, until: str, reason: str
) -> None:
    publish(tmp_path, FIRST[:1])
    args = ["export", "--data-dir", str(tmp_path), "--out", str(tmp_path / "lake"), "--since", since]
    assert main([*args, "--until", until, "--quiet"]) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "lake").exists()


ALL = "councils.events, facilities.events, mapping.events, matching.events, training.events"


def test_an_export_that_finds_nothing_says_so_with_the_range_and_the_log_s_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = tmp_path / "data", tmp_path / "lake"
    publish(data, FIRST)
    args = ["export", "--data-dir", str(data), "--out", str(out), "--quiet"]
    assert main([*args, "--since", "2026-04-01", "--until", "2026-05-01"]) == 0
    printed, err = capsys.readouterr()
    assert json.loads(printed)["events"] == 0
    assert err == (
        "clustergrowth export: no events from 2026-04-01T00:00:00+00:00 (included) to 2026-05-01T00:00:00+00:00"
        f" (excluded) in {ALL}; read 7 events, dated from 2026-03-01T23:59:59.999999+00:00"
        " to 2026-03-04T00:00:00+00:00\n"
    )
    assert main([*args, "--since", "2026-03-04", "--until", "2026-05-01", "--type", "SMERegistered"]) == 0
    assert capsys.readouterr().err == (  # d, on the 2nd at 13:00, is the one SMERegistered
        "clustergrowth export: no events of that type from 2026-03-04T00:00:00+00:00 (included) to"
        f" 2026-05-01T00:00:00+00:00 (excluded) in {ALL}; read 1 event of that type, dated from"
        " 2026-03-02T13:00:00+00:00 to 2026-03-02T13:00:00+00:00\n"
    )
    assert main([*args, "--since", "2026-03-01", "--until", "2026-05-01", "--type", "SMEAssessed"]) == 0
    assert capsys.readouterr().err == (
        "clustergrowth export: no events of that type from 2026-03-01T00:00:00+00:00 (included) to"
        f" 2026-05-01T00:00:00+00:00 (excluded) in {ALL}; the log holds none of that type\n"
    )
    assert main([*args, "--since", "2026-03-04", "--until", "2026-05-01"]) == 0  # g, at since: found
    printed, err = capsys.readouterr()
    assert json.loads(printed)["events"] == 1 and err == ""


def test_a_topic_that_does_not_exist_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out = tmp_path / "data", tmp_path / "lake"
    publish(data, FIRST[:1])
    args = ["export", "--data-dir", str(data), "--out", str(out), "--quiet", "--since", "2026-03-01"]
    assert main([*args, "--until", "2026-03-05", "--topic", "ie05.facilities.events"]) == 2
    assert capsys.readouterr().err == (
        "clustergrowth export: --topic 'ie05.facilities.events': no such topic in the embedded log;"
        f" this region's own: {ALL}\n"
    )
    assert not out.exists()
