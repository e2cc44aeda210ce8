"""Peer benchmarks at their boundaries: disclosure thresholds at 9/10/11 and 19/20/21 peers, the firm
never its own peer, widening along the ladder, the differencing guard at 0/1/9/10 firms outside a nested
group, Student's t against the printed tables; and a property test over random populations whose oracle
recomputes every answer from the raw firms (``statistics``), never from the projection's moments."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.training.domain import benchmark as bm

FACTS = bm.Facts("C28", "C", "IE05", "IE", "small", ("Cork",))


def firm(score: float, facts: bm.Facts = FACTS, practice: float | None = None) -> dict[str, Any]:
    return {
        "groups": bm.memberships("wms", facts),
        "overall": score,
        "scores": {"lean_introduction": score if practice is None else practice},
    }


def projection(firms: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Group documents after adding each firm once (the projection's fold)."""
    docs: dict[str, dict[str, Any]] = {}
    for f in firms:
        for g in f["groups"]:
            docs[g] = {"_id": g, **bm.fold(docs.get(g, {}), g, None, f)}
    return docs


def children_of(docs: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in docs.values():
        if d["parent"]:
            out.setdefault(d["parent"], []).append(d)
    return out


def answer(firms: list[dict[str, Any]], me: dict[str, Any], facts: bm.Facts = FACTS) -> dict[str, Any]:
    docs = projection([*firms, me])
    return bm.benchmark(bm.ladder("wms", facts), docs, children_of(docs), me, me)


# Disclosure thresholds -----------------------------------------------------------------------------------
def test_a_peer_mean_needs_ten_peers_the_firm_itself_not_counted() -> None:
    me = firm(5.0)
    peers = [firm(1.0 + 0.25 * i) for i in range(11)]
    at = {n: answer(peers[:n], me)["overall"] for n in (9, 10, 11)}
    # 9 peers (10 firms with me): nothing on any rung (every group has the same 9 peers)
    assert answer(peers[:9], me)["group"] is None and at[9] is None
    for n in (10, 11):
        values = [1.0 + 0.25 * i for i in range(n)]  # by hand: the peers only, not my 5.0
        assert at[n]["n"] == n and at[n]["mean"] == round(statistics.fmean(values), 2)
        assert "quartiles" not in at[n] and "percentile_rank" not in at[n]
    assert at[10]["mean"] == 2.12  # (1 + 1.25 + ... + 3.25) / 10 = 21.25 / 10, rounded half to even
    assert at[11]["mean"] == 2.25


def test_quartiles_and_percentile_rank_need_twenty_peers() -> None:
    me = firm(3.0)
    peers = [firm(float(1 + i % 5)) for i in range(21)]
    for n in (19, 20, 21):
        shown = answer(peers[:n], me)["overall"]
        values = [float(1 + i % 5) for i in range(n)]
        assert shown["n"] == n and shown["mean"] == round(statistics.fmean(values), 2)
        if n < 20:
            assert "quartiles" not in shown and "percentile_rank" not in shown
            continue
        expected = statistics.quantiles(values, n=4, method="inclusive")
        assert shown["quartiles"] == [round(q, 2) for q in expected]
        below, ties = sum(v < 3.0 for v in values), sum(v == 3.0 for v in values)
        assert shown["percentile_rank"] == round(100 * (below + ties / 2) / n, 1)
    # by hand at 20: values 1..5 four times each; Q1 at (20-1)/4 = 4.75 -> between the 5th and 6th: 2.0
    assert answer(peers[:20], me)["overall"]["quartiles"] == [2.0, 3.0, 4.0]
    assert answer(peers[:20], me)["overall"]["percentile_rank"] == 50.0  # 8 below, 4 ties


def test_no_extremes_sums_or_single_values_are_ever_shown() -> None:
    shown = answer([firm(float(1 + i % 5)) for i in range(30)], firm(2.0))
    for stats in [shown["overall"], *shown["practices"].values()]:
        assert set(stats) <= {"n", "mean", "ci95", "quartiles", "percentile_rank", "withheld"}


def test_the_confidence_interval_is_students_t_on_the_sample_sd() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0] * 2
    shown = answer([firm(v) for v in values], firm(5.0))["overall"]
    half = 2.262 * statistics.stdev(values) / len(values) ** 0.5  # t(9) = 2.262 from the tables
    assert shown["ci95"] == [round(3.0 - half, 2), round(3.0 + half, 2)] == [1.93, 4.07]


def test_students_t_matches_the_printed_tables() -> None:
    table = {9: 2.262, 10: 2.228, 19: 2.093, 29: 2.045, 60: 2.000, 120: 1.980}
    assert {df: round(bm.t95(df), 3) for df in table} == table


# The firm is never its own peer ---------------------------------------------------------------------------
def test_a_firm_is_taken_out_of_its_own_group_and_a_newer_assessment_replaces_the_old() -> None:
    peers = [firm(2.0) for _ in range(10)]
    me_old, me_new = firm(5.0), firm(1.0)
    docs = projection([*peers, me_old])
    g = bm.ladder("wms", FACTS)[0][1]
    assert docs[g]["overall"]["n"] == 11
    for gid in me_old["groups"]:  # the projection replaces my old contribution with the new one
        docs[gid] = bm.fold(docs[gid], gid, me_old, me_new)
    assert docs[g]["overall"]["n"] == 11 and docs[g]["overall"]["sum"] == 21.0  # 10 x 2 + my 1
    shown = bm.benchmark(bm.ladder("wms", FACTS), docs, children_of(docs), me_new, me_new)["overall"]
    assert shown["n"] == 10 and shown["mean"] == 2.0


# Widening -----------------------------------------------------------------------------------------------
def test_widening_goes_division_section_country_and_says_why() -> None:
    """By hand: my cell has 2 other firms; the section in my region adds C26's 3 (5); the section in my
    country adds C26 in IE04's 5 (10: enough). Medium firms and another country never count."""
    me = firm(3.0)
    other_division = bm.Facts("C26", "C", "IE05", "IE", "small", ("Cork",))
    other_region = bm.Facts("C26", "C", "IE04", "IE", "small", ())
    other_size = bm.Facts("C28", "C", "IE05", "IE", "medium", ("Cork",))
    elsewhere = bm.Facts("M71", "M", "ES61", "ES", "micro", ("Málaga",))
    cells = [(FACTS, 2), (other_division, 3), (other_region, 5), (other_size, 10), (elsewhere, 30)]
    a = answer([firm(3.0, f) for f, k in cells for _ in range(k)], me)
    assert [(p["level"], p["n"]) for p in a["passed_over"]] == [("division_region_size", 2), ("section_region_size", 5)]
    assert a["group"]["level"] == "section_country_size" and a["group"]["n"] == 10
    assert a["group"]["about"] == {"nace_section": "C", "country": "IE", "size_class": "small"}


def test_a_council_then_the_network_answers_when_the_cells_are_too_small() -> None:
    me = firm(3.0)
    council_only = bm.Facts("M71", "M", "IE05", "IE", "micro", ("Cork",))
    a = answer([firm(2.0, council_only) for _ in range(12)], me)
    assert a["group"]["level"] == "council" and a["group"]["n"] == 12
    elsewhere = bm.Facts("M71", "M", "ES61", "ES", "micro", ("Málaga",))
    b = answer([firm(2.0, elsewhere) for _ in range(25)], me)
    assert b["group"]["level"] == "network" and b["group"]["n"] == 25
    assert [p["level"] for p in b["passed_over"]] == [
        "division_region_size",
        "section_region_size",
        "section_country_size",
        "council",
    ]


# Differencing between nested groups ---------------------------------------------------------------------------
def test_the_differencing_guard_at_its_edges() -> None:
    assert bm.differencing_safe(20, [20])  # the same firms: nothing new
    assert not bm.differencing_safe(21, [20])  # one firm outside: its answer would show
    assert not bm.differencing_safe(29, [20])  # nine outside
    assert bm.differencing_safe(30, [20])  # ten outside
    assert bm.differencing_safe(21, [9])  # a nested group nobody sees (n < 10) is no risk


def test_a_group_one_firm_larger_than_a_visible_nested_group_is_passed_over() -> None:
    """My division cell has 0 other firms, a sibling division has 10; the section has those 10 and me:
    seen without me it is the sibling exactly (0 outside: allowed). With one more firm of a third division
    the section would show 1 firm beyond the sibling: passed over, and the country answers (when safe)."""
    me = firm(3.0)
    sibling = bm.Facts("C26", "C", "IE05", "IE", "small", ("Cork",))
    third = bm.Facts("C25", "C", "IE05", "IE", "small", ("Cork",))
    a = answer([firm(2.0, sibling) for _ in range(10)], me)
    assert a["group"]["level"] == "section_region_size" and a["group"]["n"] == 10
    b = answer([*(firm(2.0, sibling) for _ in range(10)), firm(4.0, third)], me)
    assert ("section_region_size", 11) in [(p["level"], p["n"]) for p in b["passed_over"]]
    assert "differencing" in next(p["why_not"] for p in b["passed_over"] if p["level"] == "section_region_size")


# Property: random populations, recomputed from the raw firms -----------------------------------------------------
DIVISIONS = [("C28", "C"), ("C26", "C"), ("M71", "M")]
REGIONS = [("IE05", "IE"), ("IE04", "IE"), ("ES61", "ES")]


@st.composite
def populations(draw: st.DrawFn) -> list[tuple[bm.Facts, float]]:
    n = draw(st.integers(min_value=1, max_value=70))
    out = []
    for _ in range(n):
        d, sec = draw(st.sampled_from(DIVISIONS))
        r, c = draw(st.sampled_from(REGIONS))
        size = draw(st.sampled_from(["micro", "small"]))
        councils = draw(st.sampled_from([(), ("Cork",), ("Málaga",), ("Cork", "Málaga")]))
        score = draw(st.integers(min_value=4, max_value=20)) / 4
        out.append((bm.Facts(d, sec, r, c, size, councils), score))
    return out


def in_group(f: bm.Facts, level: str, about: dict[str, str]) -> bool:
    if level == "council":
        return about["council"] in f.councils
    return all(getattr(f, k) == v for k, v in about.items())


@settings(max_examples=150, deadline=None)
@given(populations())
def test_no_answer_is_computed_over_fewer_firms_than_the_threshold_and_never_over_the_firm_itself(
    population: list[tuple[bm.Facts, float]],
) -> None:
    firms = [{"groups": bm.memberships("wms", f), "overall": s, "scores": {"p": s}} for f, s in population]
    docs = projection(firms)
    children = children_of(docs)
    for gid, doc in docs.items():  # the nested sizes a group keeps are those of the groups that name it parent
        assert sorted((c["_id"], c["n"]) for c in doc["children"]) == sorted(
            (c["_id"], c["n"]) for c in children.get(gid, [])
        )
    for i, (facts, _score) in enumerate(population):
        me = firms[i]
        a = bm.benchmark(bm.ladder("wms", facts), docs, children, me, me)
        if a["group"] is None:
            assert a["overall"] is None and a["practices"] == {}
            continue
        level, about = a["group"]["level"], a["group"]["about"]
        peers = [s for j, (f, s) in enumerate(population) if j != i and in_group(f, level, about)]
        assert len(peers) >= bm.MEAN_MIN
        shown = a["overall"]
        assert shown["n"] == a["group"]["n"] == len(peers)  # the firm is not among them
        assert shown["mean"] == round(statistics.fmean(peers), 2)
        if len(peers) >= bm.QUARTILE_MIN:
            assert shown["quartiles"] == [round(q, 2) for q in statistics.quantiles(peers, n=4, method="inclusive")]
        else:
            assert "quartiles" not in shown and "percentile_rank" not in shown
        # every narrower rung passed over had too few peers, or was refused for differencing
        for p in a["passed_over"]:
            n_p = len(
                [
                    s
                    for j, (f, s) in enumerate(population)
                    if j != i and in_group(f, p["level"], bm.identity(p["group"])["about"])
                ]
            )
            assert p["n"] == n_p and (n_p < bm.MEAN_MIN or "differencing" in p["why_not"])
