"""``clustergrowth events`` on the embedded log: where it starts (--from), what it remembers (--group),
where it stops (--max, --until), what it refuses. Events are written with known times and ids; the
expected ids are written out by hand."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from instance.cli import main
from instance.events import Reading, read_embedded

DESK = "eu.smeclustergrowth.facilities.DeskBooked.v1"
SME = "eu.smeclustergrowth.mapping.SMERegistered.v1"


def event(n: int, kind: str = DESK) -> CloudEvent:
    """Event ``e<n>`` at 09:00 + n minutes on 2 March 2026."""
    return CloudEvent(
        type=kind,
        source="/regions/IE05/test",
        data={"n": n},
        region="IE05",
        partitionkey=f"k{n % 2}",
        id=f"e{n}",
        time=f"2026-03-02T09:{n:02d}:00+00:00",
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A log of e1..e6 on facilities.events (e3 an SME event on mapping.events)."""

    async def write() -> None:
        bus = SqliteBus(tmp_path / "events.sqlite")
        await bus.publish("facilities.events", [event(1), event(2)])
        await bus.publish("mapping.events", [event(3, SME)])
        await bus.publish("facilities.events", [event(4), event(5), event(6)])
        await bus.close()

    asyncio.run(write())
    return tmp_path


def run(data: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["events", "--data-dir", str(data), *args]) == 0
    return [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]


def test_everything_in_log_order_by_default(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys) == ["e1", "e2", "e3", "e4", "e5", "e6"]
    assert run(data, capsys, "--type", "DeskBooked") == ["e1", "e2", "e4", "e5", "e6"]
    assert run(data, capsys, "--topic", "mapping.events") == ["e3"]


def test_max_stops_after_that_many(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "--max", "2") == ["e1", "e2"]
    assert run(data, capsys, "--max", "1", "--type", "SMERegistered") == ["e3"]


def test_from_a_time_starts_at_the_first_event_at_or_after_it(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "--from", "2026-03-02T09:04:00+00:00") == ["e4", "e5", "e6"]  # at e4's time
    assert run(data, capsys, "--from", "2026-03-02T09:03:59.999999+00:00") == ["e4", "e5", "e6"]  # just before
    assert run(data, capsys, "--from", "2026-03-02T09:04:00.000001+00:00") == ["e5", "e6"]  # just after
    assert run(data, capsys, "--from", "2026-03-02T10:04:00+01:00") == ["e4", "e5", "e6"]  # another offset
    assert run(data, capsys, "--from", "2026-03-02T09:04:00") == ["e4", "e5", "e6"]  # no offset: UTC
    assert run(data, capsys, "--from", "2026-03-02T09:07:00Z") == []
    assert run(data, capsys, "--from", "earliest") == ["e1", "e2", "e3", "e4", "e5", "e6"]
    assert run(data, capsys, "--from", "latest") == []


def test_until_stops_at_the_first_event_after_it(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "--until", "2026-03-02T09:05:00+00:00") == ["e1", "e2", "e3", "e4", "e5"]  # at e5
    assert run(data, capsys, "--until", "2026-03-02T09:04:59.999999+00:00") == ["e1", "e2", "e3", "e4"]
    assert run(data, capsys, "--from", "2026-03-02T09:02:00Z", "--until", "2026-03-02T09:04:00Z") == ["e2", "e3", "e4"]


def test_a_group_goes_on_where_it_stopped(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "--group", "analytics", "--max", "3") == ["e1", "e2", "e3"]
    assert run(data, capsys, "--group", "analytics", "--max", "1") == ["e4"]
    assert run(data, capsys, "--group", "analytics") == ["e5", "e6"]
    assert run(data, capsys, "--group", "analytics") == []
    assert run(data, capsys, "--group", "other", "--max", "1") == ["e1"]  # each group its own position
    assert run(data, capsys, "--group", "analytics", "--from", "2026-03-02T09:05:00Z") == ["e5", "e6"]  # rewound
    db = sqlite3.connect(data / "events.sqlite")
    offsets = dict(db.execute("SELECT topic, seq FROM offsets WHERE grp='analytics'").fetchall())
    db.close()
    assert offsets == {"facilities.events": 6, "mapping.events": 3}  # log sequence numbers of e6 and e3


def test_a_group_commits_what_it_filtered_out_but_not_what_lies_past_until(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data, capsys, "--group", "g", "--type", "SMERegistered") == ["e3"]
    assert run(data, capsys, "--group", "g") == []  # the desk events were read (and skipped) too
    assert run(data, capsys, "--group", "h", "--until", "2026-03-02T09:02:00Z") == ["e1", "e2"]
    assert run(data, capsys, "--group", "h") == ["e3", "e4", "e5", "e6"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--group", "facilities.usage"], "named like the facilities service's own groups"),
        (["--group", "mapping.anything"], "named like the mapping service's own groups"),
        (["--from", "yesterday"], "--from 'yesterday': not an ISO 8601 time"),
        (["--until", "2026-13-01"], "--until '2026-13-01': not an ISO 8601 time"),
        (["--type", "Nothing"], "unknown event type 'Nothing'"),
    ],
)
def test_refusals_name_the_option_and_why(
    data: Path, capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    assert main(["events", "--data-dir", str(data), *args]) == 2
    assert reason in capsys.readouterr().err
    assert main(["events", "--data-dir", str(data), "--group", "facilities-analytics", "--max", "1"]) == 0


def test_follow_waits_for_new_events_from_latest(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--from latest --follow prints only what is published after it started (bounded by --max)."""
    got: list[str] = []
    started = threading.Event()

    def positioned() -> bool:
        started.set()  # called once the reader has taken its positions
        return False

    def reader() -> None:
        reading = Reading(topics=["facilities.events"], start="latest", follow=True, max=2)
        read_embedded(data / "events.sqlite", reading, lambda _, e: got.append(e.id), stop=positioned)

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait(timeout=30)  # the reader has taken its position (at e6) before anything new is published

    async def more() -> None:
        bus = SqliteBus(data / "events.sqlite")
        await bus.publish("facilities.events", [event(7), event(8), event(9)])
        await bus.close()

    asyncio.run(more())
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert got == ["e7", "e8"]


ALL = "councils.events, facilities.events, mapping.events, matching.events, training.events"


def test_a_read_that_finds_nothing_says_what_it_searched(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "--data-dir", str(data), "--from", "2026-03-02T09:07:00Z"]) == 0  # after e6
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"clustergrowth events: no events in {ALL} from 2026-03-02T09:07:00+00:00 to the end of the log"
        " (times are UTC; events carry the time they happened)\n"
    )
    assert main(["events", "--data-dir", str(data), "--topic", "councils.events", "--type", "DeskBooked"]) == 0
    assert capsys.readouterr().err == (
        f"clustergrowth events: no events in councils.events from the beginning to the end of the log, of type {DESK}\n"
    )
    assert main(["events", "--data-dir", str(data), "--from", "2026-03-02T09:06:00Z"]) == 0  # at e6: found
    out, err = capsys.readouterr()
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["e6"] and err == ""


def test_a_topic_that_does_not_exist_is_an_error_naming_it(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Embedded log: a topic with no record that is not one of the region's own is refused; one of the
    region's own with no record yet (councils.events) is not, nor an unknown one that has records."""
    assert main(["events", "--data-dir", str(data), "--topic", "ie05.facilities.events"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (
        "clustergrowth events: --topic 'ie05.facilities.events': no such topic in the embedded log;"
        f" this region's own: {ALL}\n"
    )
    assert main(["events", "--data-dir", str(data), "--topic", "facilities.events", "--topic", "nope"]) == 2
    assert "--topic 'nope': no such topic" in capsys.readouterr().err
    assert run(data, capsys, "--topic", "councils.events") == []

    async def partner() -> None:
        bus = SqliteBus(data / "events.sqlite")
        await bus.publish("ith5.facilities.events", [event(10)])
        await bus.close()

    asyncio.run(partner())
    assert run(data, capsys, "--topic", "ith5.facilities.events") == ["e10"]
