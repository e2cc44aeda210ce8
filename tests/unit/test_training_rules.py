"""Training rules by hand: instrument scoring (WMS 1-5, MOPS options to 0-1) and every bad answer named at
once; old versions keep their results; plan generation from the weakest practices and growth needs; plan
edits; the re-assessment invitation at the due date's edge (injected dates); deltas against the baseline;
the benchmark projection applying each event once, ignoring an older assessment, and rebuilt by replay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.inbox import apply_once
from clustergrowth.problems import Unprocessable
from clustergrowth.store.sqlite import SqliteStore
from contracts import training as ev
from services.training import projection as pj
from services.training.domain import comparison, plan
from services.training.domain.instrument import instrument, latest, versions

WMS = instrument("wms", "1")
MOPS = instrument("mops", "1")


def errors(e: pytest.ExceptionInfo[Unprocessable]) -> dict[str, str]:
    return {x["field"]: x["reason"] for x in e.value.extensions["errors"]}


# Instruments -------------------------------------------------------------------------------------------------
def test_the_instruments_have_the_models_shape() -> None:
    assert len(WMS.practices) == 18 and WMS.areas == ("operations", "monitoring", "targets", "people")
    assert [sum(p.area == a for p in WMS.practices) for a in WMS.areas] == [3, 4, 5, 6]
    for p in WMS.raw["areas"][0]["practices"]:
        assert set(p["anchors"]) == {"1", "3", "5"}
    assert len(MOPS.practices) == 16 and (MOPS.scale_min, MOPS.scale_max) == (0.0, 1.0)
    assert versions("wms") == ("1",) and latest("mops").version == MOPS.version and latest("mops").raw == MOPS.raw


def test_wms_scores_are_the_answers_and_means_by_hand() -> None:
    answers = {p: 3 for p in WMS.practice_ids} | {"lean_introduction": 1, "lean_rationale": 2, "retaining_talent": 5}
    scores, areas, overall = WMS.score(answers)
    assert scores["lean_introduction"] == 1.0 and scores["retaining_talent"] == 5.0
    assert areas == {"operations": 2.0, "monitoring": 3.0, "targets": 3.0, "people": round(20 / 6, 2)}
    assert overall == round((1 + 2 + 3 + 3 * 4 + 3 * 5 + 3 * 5 + 5) / 18, 2) == 2.94


def test_mops_scores_an_option_by_its_place_among_the_options() -> None:
    answers = {p: 0 for p in MOPS.practice_ids} | {"mops01": 3, "mops03": 3, "mops16": 1}
    scores, areas, overall = MOPS.score(answers)
    # mops01 has 4 options: 3/3 = 1; mops03 has 7: 3/6 = 0.5; mops16 has 3: 1/2 = 0.5
    assert (scores["mops01"], scores["mops03"], scores["mops16"]) == (1.0, 0.5, 0.5)
    assert areas["monitoring"] == round((1 + 0.5) / 5, 2) and areas["incentives"] == round(0.5 / 7, 2)
    assert overall == round(2 / 16, 2)


def test_every_bad_answer_is_named_at_once() -> None:
    answers: dict[str, Any] = {p: 3 for p in WMS.practice_ids}
    answers |= {"lean_introduction": 0, "lean_rationale": 6, "time_horizon": 2.5, "target_balance": True, "x": 1}
    del answers["retaining_talent"]
    with pytest.raises(Unprocessable) as e:
        WMS.score(answers)
    found = errors(e)
    assert set(found) == {
        f"answers.{k}"
        for k in ("lean_introduction", "lean_rationale", "time_horizon", "target_balance", "x", "retaining_talent")
    }
    assert (
        found["answers.lean_rationale"] == "must be 1..5, got 6"
        and found["answers.retaining_talent"] == "missing answer"
    )
    # the scale's edges: 1 and 5 in, 0 and 6 out (above); MOPS: 0 and the last option in, -1 and one past out
    WMS.validate({p: 1 for p in WMS.practice_ids})
    WMS.validate({p: 5 for p in WMS.practice_ids})
    ok = {p: 0 for p in MOPS.practice_ids} | {"mops16": 2}
    MOPS.validate(ok)
    with pytest.raises(Unprocessable) as e:
        MOPS.validate(ok | {"mops16": 3, "mops02": -1})
    assert errors(e) == {
        "answers.mops16": "must be an option index 0..2",
        "answers.mops02": "must be an option index 0..3",
    }


def test_unknown_instruments_and_versions_are_named() -> None:
    with pytest.raises(Unprocessable) as e:
        instrument("wms", "2")
    assert set(errors(e)) == {"instrument_version"}
    with pytest.raises(Unprocessable) as e:
        instrument("efqm", "1")
    assert set(errors(e)) == {"instrument"}


# Plans -------------------------------------------------------------------------------------------------------------
NEEDS = plan.NeedsMap(
    {"talent": ["people"], "finance": ["targets"], "internationalisation": ["operations"]},
    frozenset({"internationalisation"}),
    0.25,
    6,
)


def baseline(**over: int) -> dict[str, Any]:
    scores = {p: 4.0 for p in WMS.practice_ids} | {k: float(v) for k, v in over.items()}
    return {"_id": "as-1", "sme_id": "sme-1", "organisation": "IE05:a", "region": "IE05", "scores": scores}


def test_the_weakest_practices_become_focus_areas_needs_weighing_in() -> None:
    # shares of the scale: lean_introduction (2) 0.25; retaining_talent (2) 0.25 - 0.25 (talent) = 0;
    # target_balance (3) 0.5 - 0.25 (finance) = 0.25; time_horizon (1) 0 - 0.25 = -0.25
    a = baseline(lean_introduction=2, retaining_talent=2, target_balance=3, time_horizon=1)
    focus = plan.focus_areas(WMS, a["scores"], ["talent", "finance"], NEEDS)
    assert [(f["practice"], f["target"]) for f in focus] == [
        ("time_horizon", 2.0),
        ("retaining_talent", 3.0),
        ("lean_introduction", 3.0),  # ties with target_balance at 0.25: instrument order
    ]
    assert [f["needs"] for f in focus] == [["finance"], ["talent"], []]
    # without needs: the plain weakest, ties in instrument order
    assert [f["practice"] for f in plan.focus_areas(WMS, a["scores"], [], NEEDS)] == [
        "time_horizon",
        "lean_introduction",
        "retaining_talent",
    ]


def test_a_placement_is_suggested_where_the_need_fits_a_stay_abroad_and_goals_stop_at_the_top() -> None:
    a = baseline(lean_introduction=1)
    focus = plan.focus_areas(WMS, a["scores"], ["internationalisation"], NEEDS)
    assert focus[0]["practice"] == "lean_introduction" and focus[0]["placement_suggested"] is True
    assert focus[1]["placement_suggested"] is True and focus[1]["area"] == "operations"
    assert plan.goal(WMS, 4.5) == 5.0 and plan.goal(MOPS, 0.9) == 1.0 and plan.goal(MOPS, 0.5) == 0.75
    top = {p: 5.0 for p in WMS.practice_ids} | {"retaining_talent": 4.0}
    assert [f["practice"] for f in plan.focus_areas(WMS, top, [], NEEDS)] == ["retaining_talent"]  # 5s excluded


def test_a_plan_is_due_six_months_on_the_last_day_when_the_month_is_shorter() -> None:
    assert plan.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert plan.add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert plan.add_months(date(2026, 1, 15), 6) == date(2026, 7, 15)
    p = plan.generate("pl-1", baseline(lean_introduction=1), WMS, [], date(2026, 1, 15), "t0", NEEDS)
    assert p["due"] == "2026-07-15" and {f["due"] for f in p["focus_areas"]} == {"2026-07-15"}


def test_the_invitation_is_due_the_day_after_the_due_date_and_once() -> None:
    p = plan.generate("pl-1", baseline(), WMS, [], date(2026, 1, 15), "t0", NEEDS)
    assert not plan.due_for_invitation(p, date(2026, 7, 14))
    assert not plan.due_for_invitation(p, date(2026, 7, 15))  # the due date itself
    assert plan.due_for_invitation(p, date(2026, 7, 16))
    assert not plan.due_for_invitation(plan.invited(p, "t1"), date(2026, 7, 16))


def test_edits_name_every_problem_and_a_new_due_date_waits_for_its_own_invitation() -> None:
    p = plan.invited(
        plan.generate("pl-1", baseline(lean_introduction=1), WMS, ["talent"], date(2026, 1, 15), "t0", NEEDS), "t1"
    )
    today = date(2026, 7, 20)
    with pytest.raises(Unprocessable) as e:
        plan.edit(
            p,
            WMS,
            [
                {"practice": "x", "target": 3},
                {"practice": "lean_rationale", "target": 6},
                {"practice": "lean_rationale", "target": 2, "due": date(2026, 7, 19)},
            ],
            date(2026, 7, 19),
            today,
            "t2",
            NEEDS,
        )
    # focus 1 has no due date of its own: the plan's (2026-07-15, past since the new one was refused)
    assert set(errors(e)) == {
        "focus_areas.0.practice", "focus_areas.1.target", "focus_areas.1.due", "focus_areas.2.practice", "due"
    }  # fmt: skip
    new = plan.edit(
        p, WMS, [{"practice": "retaining_talent", "target": 5, "due": None}], date(2026, 12, 31), today, "t2", NEEDS
    )
    assert new["invited_at"] is None and new["status"] == "active" and new["due"] == "2026-12-31"
    assert new["focus_areas"] == [
        {
            "practice": "retaining_talent",
            "name": "Retaining human capital",
            "area": "people",
            "baseline": 4.0,
            "target": 5.0,
            "needs": ["talent"],
            "placement_suggested": False,
            "due": "2026-12-31",
        }
    ]
    assert new["revision"] == p["revision"] + 1
    same_due = plan.edit(p, WMS, None, date.fromisoformat(p["due"]), date(2026, 1, 20), "t2", NEEDS)
    assert same_due["invited_at"] == "t1"  # the same due date: the invitation stands


def test_deltas_and_goals_against_the_baseline() -> None:
    base = {"_id": "as-1", "scores": {"a": 1.0, "b": 2.0, "gone": 3.0}, "overall": 2.0}
    cur = {
        "_id": "as-2",
        "scores": {"a": 3.0, "b": 2.0, "new": 1.0},
        "overall": 2.5,
        "instrument": "wms",
        "scale": {"min": 1, "max": 5},
    }
    p = {"_id": "pl-1", "focus_areas": [{"practice": "a", "target": 3.0}, {"practice": "b", "target": 3.0}]}
    c = comparison.compare(base, cur, p)
    assert c["practices"] == [
        {
            "practice": "a",
            "baseline": 1.0,
            "current": 3.0,
            "delta": 2.0,
            "target": 3.0,
            "goal_met": True,
        },  # at the target
        {"practice": "b", "baseline": 2.0, "current": 2.0, "delta": 0.0, "target": 3.0, "goal_met": False},
    ]
    assert c["goals"] == {"set": 2, "met": 1} and c["overall"] == {"baseline": 2.0, "current": 2.5, "delta": 0.5}
    assert comparison.compare(base, cur, None)["goals"] == {"set": 0, "met": 0}


# The projection ---------------------------------------------------------------------------------------------------
def assessed(aid: str, sme: str, overall: float, at: str, division: str = "C28") -> CloudEvent:
    data = ev.PracticesAssessed(
        assessment_id=aid, sme_id=sme, instrument="wms", instrument_version="1", region="IE05", country="IE",
        nace_division=division, nace_section="C", size_class="small", councils=["Cork"],
        scores={"lean_introduction": overall}, areas={}, overall=overall, previous_assessment_id=None, assessed_at=at,
    )  # fmt: skip
    return make_event(data, key=sme, region="IE05", source="/regions/IE05/training", subject=aid)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "training.sqlite")
    yield s
    await s.close()


async def cell(store: SqliteStore, division: str = "C28") -> dict[str, Any]:
    doc = await store.get(await pj.live_collection(store), f"wms|division_region_size|{division}|IE05|small")
    assert doc is not None
    return {"n": doc["n"], "sum": doc["overall"]["sum"], "hist": doc["overall"]["hist"]}


async def test_each_event_counts_once_and_an_older_assessment_changes_nothing(store: SqliteStore) -> None:
    p = pj.PeerProjection(store)
    first, second = (
        assessed("as-1", "sme-1", 2.0, "2026-01-01T00:00:00Z"),
        assessed("as-2", "sme-1", 4.0, "2026-02-01T00:00:00Z"),
    )
    await p.handle(first)
    await p.handle(first)  # redelivered
    assert await cell(store) == {"n": 1, "sum": 2.0, "hist": {"200": 1}}
    await p.handle(second)  # the SME's newer assessment replaces its contribution
    assert await cell(store) == {"n": 1, "sum": 4.0, "hist": {"400": 1}}
    await p.handle(assessed("as-0", "sme-1", 1.0, "2025-12-01T00:00:00Z"))  # older, arriving late
    assert await cell(store) == {"n": 1, "sum": 4.0, "hist": {"400": 1}}
    moved = assessed("as-3", "sme-1", 3.0, "2026-03-01T00:00:00Z", division="C26")  # it changed sector
    await p.handle(moved)
    assert await cell(store) == {"n": 0, "sum": 0.0, "hist": {}}
    assert await cell(store, "C26") == {"n": 1, "sum": 3.0, "hist": {"300": 1}}


async def test_a_redelivery_after_a_crash_between_groups_finishes_the_rest_once(store: SqliteStore) -> None:
    """The SME's contribution document is written last: a crash after some groups leaves it as it was, so
    the redelivered event recomputes the same changes and skips the groups already done."""
    p = pj.PeerProjection(store)
    e = assessed("as-1", "sme-1", 2.0, "2026-01-01T00:00:00Z")
    collection = await pj.live_collection(store)
    steps = pj.changes(e, None)
    for key, fold in steps[:2]:  # two group documents, then the "crash"
        await apply_once(store, collection, key, e.id, fold)
    await p.handle(e)
    assert await cell(store) == {"n": 1, "sum": 2.0, "hist": {"200": 1}}
    network = await store.get(collection, "wms|network")
    assert network is not None and network["n"] == 1


async def test_a_rebuild_by_replay_gives_the_same_groups(tmp_path: Path, store: SqliteStore) -> None:
    bus = SqliteBus(tmp_path / "events.sqlite")
    at = [f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z" for i in range(40)]
    events = [assessed(f"as-{i}", f"sme-{i % 13}", 1.0 + i % 5, at[i]) for i in range(40)]
    await bus.ensure_topics(["training.events"])
    await bus.publish("training.events", events)
    for i in range(40):  # the organisation stored with each assessment: sme-1 and sme-2 are acme's, the rest own
        await store.insert("assessments", {"_id": f"as-{i}", "organisation": "acme" if i % 13 in (1, 2) else None})
    live = pj.PeerProjection(store)
    for e in events:
        await live.handle(e)
    fields = ("n", "overall", "org_sizes", "state", "children", "release", "pending", "organisation", "contribution")
    before = {d["_id"]: [d.get(k) for k in fields] for d in await store.find("peers_g1", {})}
    report = await pj.rebuild(store, bus)
    after = {d["_id"]: [d.get(k) for k in fields] for d in await store.find("peers_g2", {})}
    assert report["generation"] == 2 and report["events"] == 40 and after == before
    # by hand: 13 SMEs in one cell, acme's two (sme-1, sme-2) and eleven of their own (12 organisations).
    # Counting distinct organisations since the last cut: as-0..as-10 make 10 (acme once for as-1, as-2):
    # cut at as-10; then as-11..as-21 (sme-11, 12, 0, acme, 3, 4, 5, 6, 7, 8): cut at as-21; then
    # as-22..as-32 (sme-9, 10, 11, 12, 0, acme, 3, 4, 5, 6): cut at as-32, the third release
    cell_doc = await store.get("peers_g2", "wms|division_region_size|C28|IE05|small")
    assert cell_doc is not None and cell_doc["org_sizes"] == {"2": 1, "1": 11}
    assert cell_doc["release"]["no"] == 3 and cell_doc["release"]["at"] == at[32]
    assert await pj.live_collection(store) == "peers_g2"
    await bus.close()
