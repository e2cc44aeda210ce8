"""Peer benchmarks at their boundaries: disclosure thresholds at 9/10/11 and 19/20/21 peers and 9/10, 19/20
organisations, the asker's whole organisation never among its peers, dominance at half and just over,
releases cut at the 10th organisation's change (the before/after probe), complementary suppression at
0/1/9/10 firms outside the shown nested groups, quartile bands at each quartile, rounding to the step,
Student's t against the printed tables; and a property test over random populations with organisations and
re-assessments whose oracles recompute every answer from the raw firms and a release rule written here
(``statistics``), never from the projection's moments, and subtract every combination of shown nested
groups by brute force."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.training.domain import benchmark as bm

FACTS = bm.Facts("C28", "C", "IE05", "IE", "small", ("Cork",))


SOLO = itertools.count()


def firm(score: float, facts: bm.Facts = FACTS, practice: float | None = None, org: str = "") -> dict[str, Any]:
    """A contribution; of an organisation of its own unless ``org`` names one."""
    return {
        "groups": bm.memberships("wms", facts),
        "overall": score,
        "scores": {"lean_introduction": score if practice is None else practice},
        "organisation": org or f"solo-{next(SOLO)}",
    }


def add(docs: dict[str, dict[str, Any]], earlier: Sequence[dict[str, Any]], old: Any, new: dict[str, Any]) -> None:
    """The projection's folds for one change (narrowest group first); ``earlier``: the other SMEs' current
    contributions, from which an organisation's count in a group is read."""
    orgs = {c["organisation"] for c in (old, new) if c is not None}
    same = {o: [c for c in earlier if c["organisation"] == o] for o in orgs}
    bm.apply(docs, old, new, bm.org_moves(old, new, same))


def joined(firms: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Group documents after adding each firm once (releases cut as they come)."""
    docs: dict[str, dict[str, Any]] = {}
    for i, f in enumerate(firms):
        add(docs, firms[:i], None, f)
    return docs


def projection(firms: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Group documents after adding each firm once and then every firm re-assessing with the same answers:
    nothing changes but every organisation has re-assessed, so each group with 10 organisations has a
    release of exactly its current firms (what the thresholds and differencing tests reason about)."""
    docs = joined(firms)
    for i, f in enumerate(firms):
        add(docs, [*firms[:i], *firms[i + 1 :]], f, f)
    return docs


def children_of(docs: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in docs.values():
        if d["parent"]:
            out.setdefault(d["parent"], []).append(d)
    return out


def answer(firms: list[dict[str, Any]], me: dict[str, Any], facts: bm.Facts = FACTS) -> dict[str, Any]:
    docs = projection([*firms, me])
    mine = [f for f in [*firms, me] if f["organisation"] == me["organisation"]]
    return bm.benchmark(bm.ladder("wms", facts), docs, me["organisation"], mine, me)


def tenth(x: float) -> float:
    """The oracle's rounding of a shown WMS figure: to the nearest 0.1."""
    return round(round(x / 0.1) * 0.1, 2)


def shown(docs: dict[str, dict[str, Any]], gid: str) -> bool:
    return bool(docs[gid]["state"]["shown"])


# Disclosure thresholds -----------------------------------------------------------------------------------
def test_a_peer_mean_needs_ten_peers_the_firm_itself_not_counted() -> None:
    me = firm(5.0)
    peers = [firm(1.0 + 0.25 * i) for i in range(11)]
    at = {n: answer(peers[:n], me)["overall"] for n in (9, 10, 11)}
    # 9 peers (10 firms with me): nothing on any rung (every group has the same 9 peers)
    assert answer(peers[:9], me)["group"] is None and at[9] is None
    for n in (10, 11):
        values = [1.0 + 0.25 * i for i in range(n)]  # by hand: the peers only, not my 5.0
        assert at[n]["n"] == n and at[n]["mean"] == tenth(statistics.fmean(values))
        assert "quartiles" not in at[n] and "band" not in at[n]
    assert at[10]["mean"] == 2.1  # (1 + 1.25 + ... + 3.25) / 10 = 2.125, to the nearest 0.1


def test_quartiles_and_the_quartile_band_need_twenty_peers() -> None:
    me = firm(3.0)
    peers = [firm(float(1 + i % 5)) for i in range(21)]
    for n in (19, 20, 21):
        shown = answer(peers[:n], me)["overall"]
        values = [float(1 + i % 5) for i in range(n)]
        assert shown["n"] == n and shown["mean"] == tenth(statistics.fmean(values))
        if n < 20:
            assert "quartiles" not in shown and "band" not in shown
            continue
        expected = statistics.quantiles(values, n=4, method="inclusive")
        assert shown["quartiles"] == [tenth(q) for q in expected]
        assert shown["band"] == "median to Q3" and "percentile_rank" not in shown  # 3.0 is the median
    # by hand at 20: values 1..5 four times each; Q1 at (20-1)/4 = 4.75 -> between the 5th and 6th: 2.0
    assert answer(peers[:20], me)["overall"]["quartiles"] == [2.0, 3.0, 4.0]


def test_the_quartile_band_at_each_quartile_and_just_below() -> None:
    """Quartiles 2.0, 3.0, 4.0 (20 peers, 1..5 four times each); a score on a quartile is in the band above."""
    peers = [firm(float(1 + i % 5)) for i in range(20)]
    expected = {
        1.99: "below Q1",
        2.0: "Q1 to median",
        2.99: "Q1 to median",
        3.0: "median to Q3",
        3.99: "median to Q3",
        4.0: "Q3 and above",
        5.0: "Q3 and above",
    }
    assert {x: answer(peers, firm(x))["overall"]["band"] for x in expected} == expected


def test_the_band_asked_at_every_score_gives_no_more_than_the_quartiles() -> None:
    """The tester's probe asked the rank at scores 1..5 and read the peers' histogram back from it. Whatever
    two populations with the same quartiles, the bands at every score are the same."""
    a = [firm(v) for v in [1.0] * 5 + [2.0] * 5 + [3.0] * 5 + [4.0] * 5 + [5.0] * 4]  # quartiles 2, 3, 4
    b = [firm(v) for v in [2.0] * 9 + [3.0] * 6 + [4.0] * 9]  # a different histogram, same quartiles
    qa, qb = answer(a, firm(3.0))["overall"]["quartiles"], answer(b, firm(3.0))["overall"]["quartiles"]
    assert qa == qb == [2.0, 3.0, 4.0]
    scores = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [answer(a, firm(x))["overall"]["band"] for x in scores] == [
        answer(b, firm(x))["overall"]["band"] for x in scores
    ]


def test_no_extremes_sums_or_single_values_are_ever_shown() -> None:
    shown = answer([firm(float(1 + i % 5)) for i in range(30)], firm(2.0))
    for stats in [shown["overall"], *shown["practices"].values()]:
        assert set(stats) <= {"n", "mean", "ci95", "quartiles", "band", "withheld"}


def test_the_confidence_interval_is_students_t_on_the_sample_sd() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0] * 2
    shown = answer([firm(v) for v in values], firm(5.0))["overall"]
    half = 2.262 * statistics.stdev(values) / len(values) ** 0.5  # t(9) = 2.262 from the tables
    assert shown["ci95"] == [tenth(3.0 - half), tenth(3.0 + half)] == [1.9, 4.1]  # 3 -/+ 1.066


def test_shown_figures_are_rounded_to_the_instrument_s_step() -> None:
    """0.1 on WMS (1-5), 0.05 on MOPS (0-1), each side of a half step."""
    assert (bm.step_of("wms"), bm.step_of("mops")) == (0.1, 0.05)
    assert [bm.to_step(x, 0.1) for x in (2.449, 2.451, 3.96)] == [2.4, 2.5, 4.0]
    assert [bm.to_step(x, 0.05) for x in (0.424, 0.426, 0.437, 0.98)] == [0.4, 0.45, 0.45, 1.0]


def test_the_interval_and_n_no_longer_give_the_sum_of_squares() -> None:
    """The tester's point: with n and an exact half-width, the sum of squares follows (and with two readings,
    one firm's value). Two populations of 10 with the same sum and different sums of squares (half-widths
    1.066 and 1.056 by hand, t(9) = 2.262) show the same rounded interval."""
    a = [1.0, 2.0, 3.0, 4.0, 5.0] * 2
    b = [1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0, 3.0, 4.25, 4.75]
    assert sum(a) == sum(b) and sum(x * x for x in a) != sum(x * x for x in b)
    sa, sb = answer([firm(v) for v in a], firm(3.0))["overall"], answer([firm(v) for v in b], firm(3.0))["overall"]
    assert sa["ci95"] == sb["ci95"] == [1.9, 4.1] and sa["mean"] == sb["mean"] == 3.0


def test_students_t_matches_the_printed_tables() -> None:
    table = {9: 2.262, 10: 2.228, 19: 2.093, 29: 2.045, 60: 2.000, 120: 1.980}
    assert {df: round(bm.t95(df), 3) for df in table} == table


# The firm is never its own peer ---------------------------------------------------------------------------
def test_a_firm_is_taken_out_of_its_own_group_and_a_newer_assessment_replaces_the_old() -> None:
    peers = [firm(2.0) for _ in range(10)]
    me_old, me_new = firm(5.0, org="me"), firm(1.0, org="me")
    docs = projection([*peers, me_old])
    g = bm.ladder("wms", FACTS)[0][1]
    assert docs[g]["overall"]["n"] == 11
    add(docs, peers, me_old, me_new)  # the projection replaces my old contribution with the new one
    assert docs[g]["overall"]["n"] == 11 and docs[g]["overall"]["sum"] == 21.0  # 10 x 2 + my 1
    out = bm.benchmark(bm.ladder("wms", FACTS), docs, "me", [me_new], me_new)["overall"]
    assert out["n"] == 10 and out["mean"] == 2.0


# Widening -----------------------------------------------------------------------------------------------
def test_widening_goes_division_section_country_and_says_why() -> None:
    """By hand: my cell has 2 other firms; the section in my region adds C26's 3 (5); the section in my
    country adds C26 in IE04's 5 (10: enough). Medium firms and another country never count. The two
    narrow groups never had contributions of 10 organisations: no release, so no peers released (n 0)."""
    me = firm(3.0)
    other_division = bm.Facts("C26", "C", "IE05", "IE", "small", ("Cork",))
    other_region = bm.Facts("C26", "C", "IE04", "IE", "small", ())
    other_size = bm.Facts("C28", "C", "IE05", "IE", "medium", ("Cork",))
    elsewhere = bm.Facts("M71", "M", "ES61", "ES", "micro", ("Málaga",))
    cells = [(FACTS, 2), (other_division, 3), (other_region, 5), (other_size, 10), (elsewhere, 30)]
    a = answer([firm(3.0, f) for f, k in cells for _ in range(k)], me)
    assert [(p["level"], p["n"]) for p in a["passed_over"]] == [("division_region_size", 0), ("section_region_size", 0)]
    assert all(p["why_not"].startswith("no release yet") for p in a["passed_over"])
    assert a["group"]["level"] == "section_country_size" and a["group"]["n"] == 10
    assert a["group"]["about"] == {"nace_section": "C", "country": "IE", "size_class": "small"}


def test_a_council_then_the_network_answers_when_the_cells_are_too_small() -> None:
    me = firm(3.0)
    council_only = bm.Facts("M71", "M", "IE05", "IE", "micro", ("Cork",))
    a = answer([firm(2.0, council_only) for _ in range(12)], me)
    assert a["group"]["level"] == "council" and a["group"]["n"] == 12
    # 25 firms elsewhere in five cells of five, no section x country x size group reaching 10 (a shown one
    # of 25 would leave me alone outside it: the network would be withheld for differencing)
    cells = [("M71", "ES61", "micro"), ("M71", "ES61", "small"), ("C26", "ES61", "micro"), ("C26", "ES61", "medium")]
    cells.append(("M71", "IE04", "micro"))
    elsewhere = [bm.Facts(d, d[0], r, r[:2], z, ()) for d, r, z in cells]
    b = answer([firm(2.0, f) for f in elsewhere for _ in range(5)], me)
    assert b["group"]["level"] == "network" and b["group"]["n"] == 25
    assert [p["level"] for p in b["passed_over"]] == [
        "division_region_size",
        "section_region_size",
        "section_country_size",
        "council",
    ]


# Differencing between nested groups: complementary suppression ---------------------------------------------------
SECTION = "wms|section_region_size|C|IE05|small"


def cell(division: str, k: int, score: float = 2.0) -> list[dict[str, Any]]:
    return [firm(score, bm.Facts(division, "C", "IE05", "IE", "small", ())) for _ in range(k)]


def test_a_group_is_withheld_when_its_shown_nested_groups_leave_1_to_9_firms_outside_them() -> None:
    """A section of IE05 x small: a shown division of 20 firms and a third division of k firms (too few to
    be shown). k = 0: the section is the division itself (nothing new); k = 1..9: the section would give
    those k firms away; k = 10: shown, and so is that division."""
    for k, expected in ((0, True), (1, False), (9, False), (10, True)):
        docs = projection([*cell("C28", 20), *cell("C25", k)])
        assert shown(docs, "wms|division_region_size|C28|IE05|small")
        assert shown(docs, SECTION) is expected, k
        assert docs[SECTION]["n"] == 20 + k


def test_two_shown_divisions_do_not_together_give_a_third_away() -> None:
    """The tester's probe: section = C28 (24) + C22 (10) + one firm of C24. Each division alone leaves 11
    and 25 firms of the section outside it (the old per-division check passed); together they leave 1."""
    docs = projection([*cell("C28", 24), *cell("C22", 10), *cell("C24", 1)])
    assert shown(docs, "wms|division_region_size|C28|IE05|small")
    assert shown(docs, "wms|division_region_size|C22|IE05|small")
    assert not shown(docs, SECTION) and "differencing" in docs[SECTION]["state"]["why"]
    # the wider groups hold the same 35 firms: the same two divisions still leave one outside them
    for gid in ("wms|section_country_size|C|IE|small", "wms|network"):
        assert not shown(docs, gid) and docs[gid]["state"]["frontier"] == 34
    # ten more firms of C24: it is shown, the section's remainder is 0, the section is shown again
    docs = projection([*cell("C28", 24), *cell("C22", 10), *cell("C24", 11)])
    assert all(shown(docs, g) for g in (SECTION, "wms|section_country_size|C|IE|small", "wms|network"))


def test_a_withheld_group_passes_its_shown_nested_groups_on_to_the_group_above() -> None:
    """C28 of IE05 (20) and C26 of IE05 (12) and one firm of C25: the IE05 section is withheld (1 outside),
    but its divisions are still shown, so the country's section must count them: IE04 adds 5 firms of C28
    -> 5 + 1 outside the shown divisions: withheld; 10 of IE04 (their section shown) -> still the one C25 firm
    outside (32 + 10 of 43 covered): withheld."""
    ie04 = bm.Facts("C28", "C", "IE04", "IE", "small", ())
    base = [*cell("C28", 20), *cell("C26", 12), *cell("C25", 1)]
    country = "wms|section_country_size|C|IE|small"
    docs = projection([*base, *(firm(2.0, ie04) for _ in range(5))])
    assert not shown(docs, SECTION) and docs[SECTION]["state"]["frontier"] == 32
    assert not shown(docs, country) and docs[country]["state"]["frontier"] == 32
    docs = projection([*base, *(firm(2.0, ie04) for _ in range(10))])
    assert shown(docs, "wms|section_region_size|C|IE04|small") and docs[country]["n"] == 43
    assert not shown(docs, country) and docs[country]["state"]["frontier"] == 42


def test_councils_are_checked_against_the_network_alone_and_together() -> None:
    """Two councils of 12 firms each and k firms in no council: the network less both councils is k."""
    cork, malaga = (
        bm.Facts("C28", "C", "IE05", "IE", "small", ("Cork",)),
        bm.Facts("M71", "M", "ES61", "ES", "micro", ("Málaga",)),
    )
    nowhere = bm.Facts("C26", "C", "IE04", "IE", "micro", ())
    for k, expected in ((0, True), (1, False), (9, False), (10, True)):
        firms = [*(firm(2.0, cork) for _ in range(12)), *(firm(3.0, malaga) for _ in range(12))]
        docs = projection([*firms, *(firm(4.0, nowhere) for _ in range(k))])
        assert shown(docs, "wms|council|Cork") and shown(docs, "wms|council|Málaga")
        assert shown(docs, "wms|network") is expected, k


def test_an_sme_benchmark_passes_over_a_group_withheld_for_differencing() -> None:
    facts = bm.Facts("C24", "C", "IE05", "IE", "small", ())
    a = answer([*cell("C28", 24), *cell("C22", 10)], firm(3.0, facts), facts)
    assert a["group"] is None
    assert [(p["level"], p["n"]) for p in a["passed_over"]] == [
        ("division_region_size", 0),
        ("section_region_size", 34),
        ("section_country_size", 34),
        ("network", 34),
    ]
    assert all("differencing" in p["why_not"] for p in a["passed_over"][1:])


# Organisations: distinct organisations, the asker's organisation out, dominance ------------------------------------
CELL = "wms|division_region_size|C28|IE05|small"


def test_ten_fake_smes_of_one_organisation_never_read_back_a_victim() -> None:
    """The tester's Sybil probe: one organisation registers 10 SMEs in an empty cell, a victim of another
    organisation joins; the attacker's own benchmark took out only the asking SME and showed 9 fakes + the
    victim. Two organisations never make a release; with 8 more organisations of one SME each (a release of
    19 firms of 10 organisations) the attacker's organisation holds more than half of the firms (analysts:
    withheld) and, taken out of the attacker's peers, leaves 9: nothing shown to anyone."""
    fakes = [firm(3.0, org="attacker") for _ in range(10)]
    victim = firm(4.5, org="victim")
    docs = projection([*fakes, victim])
    a = bm.benchmark(bm.ladder("wms", FACTS), docs, "attacker", fakes, fakes[0])
    assert a["group"] is None and a["passed_over"][0]["n"] == 0
    assert docs[CELL]["n"] == 11 and docs[CELL]["state"]["why"].startswith("no release yet")
    docs = projection([*fakes, victim, *(firm(2.0) for _ in range(8))])
    assert docs[CELL]["release"]["n"] == 19 and docs[CELL]["org_sizes"] == {"10": 1, "1": 9}
    assert docs[CELL]["state"]["why"] == "one organisation has more than half of its firms"
    a = bm.benchmark(bm.ladder("wms", FACTS), docs, "attacker", fakes, fakes[0])
    assert a["group"] is None and a["passed_over"][0]["n"] == 9
    assert not any(d["state"]["shown"] for d in docs.values())


def test_thresholds_count_distinct_organisations_at_9_10_19_20() -> None:
    """10 firms: a mean from 10 organisations, not from 9 (two firms of one); quartiles from 20 of 20."""
    me = firm(3.0, org="me")
    for k, mean in ((9, False), (10, True)):
        peers = [firm(2.0, org=f"o{i % k}") for i in range(10)]
        out = answer(peers, me)
        assert (out["group"] is not None and "mean" in out["overall"]) is mean, k
    for k, quartiles in ((19, False), (20, True)):
        peers = [firm(float(1 + i % 5), org=f"o{i % k}") for i in range(20)]
        out = answer(peers, me)["overall"]
        assert out["n"] == 20 and "mean" in out and ("quartiles" in out) is quartiles, k


def test_every_smes_of_the_askers_organisation_is_taken_out() -> None:
    """My organisation has 3 SMEs in my cell of 25: my peers are the 22 others, their mean by hand."""
    mine = [firm(5.0, org="me") for _ in range(3)]
    others = [firm(float(1 + i % 4), org=f"o{i}") for i in range(22)]  # 1, 2, 3, 4 ... : 6 ones, 6 twos ...
    out = answer([*others, *mine[1:]], mine[0])
    assert out["group"]["n"] == 22 and out["group"]["organisations"] == 22
    assert out["overall"]["mean"] == 2.4  # (6 * 1 + 6 * 2 + 5 * 3 + 5 * 4) / 22 = 2.409


def test_no_group_is_shown_when_one_organisation_has_more_than_half_of_its_firms() -> None:
    """20 firms with 10 of one organisation: exactly half, shown; 11 of 21: withheld; and from the asker's
    side, an organisation holding more than half of the peers left after its own are taken out."""
    big = [firm(2.0, org="big") for _ in range(11)]
    for k, expected in ((10, True), (11, False)):
        docs = projection([*big[:k], *(firm(3.0) for _ in range(10))])
        assert docs[CELL]["n"] == k + 10 and docs[CELL]["state"]["shown"] is expected, k
    docs_why = projection([*big, *(firm(3.0) for _ in range(10))])
    assert docs_why[CELL]["state"]["why"] == "one organisation has more than half of its firms"
    # asker's side: 10 of "big" + 10 singles + my 2: shown to analysts (10 of 22), but my peers are 20 with 10
    # of "big": exactly half, shown; with 11 of big among 21 peers + my 2 = 23: 11 of 23 shown to analysts,
    # withheld from me
    mine = [firm(5.0, org="me") for _ in range(2)]
    ok = answer([*big[:10], *(firm(3.0) for _ in range(10)), mine[1]], mine[0])
    assert ok["group"]["level"] == "division_region_size" and ok["group"]["n"] == 20
    docs = projection([*big, *(firm(3.0) for _ in range(10)), *mine])
    assert docs[CELL]["state"]["shown"]
    out = bm.benchmark(bm.ladder("wms", FACTS), docs, "me", mine, mine[0])
    assert out["passed_over"][0]["why_not"] == "one organisation has more than half of the peers"


def test_an_organisation_s_count_follows_its_smes_moving_between_groups() -> None:
    """org_sizes by hand: two SMEs of one organisation in my cell (one organisation of 2), one moves to
    another division: two organisations of 1 firm each, in two cells."""
    a, b = firm(2.0, org="acme"), firm(3.0, org="acme")
    docs = projection([a, b])
    assert docs[CELL]["org_sizes"] == {"2": 1}
    moved = firm(3.0, bm.Facts("C26", "C", "IE05", "IE", "small", ("Cork",)), org="acme")
    add(docs, [a], b, moved)
    assert docs[CELL]["org_sizes"] == {"1": 1} and docs["wms|division_region_size|C26|IE05|small"]["org_sizes"] == {
        "1": 1
    }
    assert docs["wms|section_region_size|C|IE05|small"]["org_sizes"] == {"2": 1}


# Releases: a group's statistics change only after 10 organisations' changes --------------------------------------
def at(day: int, f: dict[str, Any]) -> dict[str, Any]:
    return {**f, "assessed_at": f"2026-03-{day:02d}T09:00:00Z"}


def test_a_newcomer_is_never_read_back_from_before_and_after() -> None:
    """The tester's probe: read a group of 20, one firm joins, read again. The release stays the same
    (number, date, n, statistics) until firms of 10 organisations have joined or changed; the 10th cuts
    the next release (its date is the 10th's assessment time), which then differs by 10 firms."""
    base = [at(1, firm(2.0)) for _ in range(20)]
    docs = projection(base)
    ana = bm.release_of(docs[CELL])
    first = docs[CELL]["release"]
    assert ana["n"] == 20 and first["overall"]["sum"] == 40.0
    newcomers = [at(2 + i, firm(5.0)) for i in range(10)]
    for i, f in enumerate(newcomers):
        add(docs, [*base, *newcomers[:i]], None, f)
        if i < 9:  # 1..9 newcomers: the same release
            assert docs[CELL]["release"] == first and bm.release_of(docs[CELL]) == ana, i
    second = docs[CELL]["release"]
    assert bm.release_of(docs[CELL]) == {"no": ana["no"] + 1, "at": "2026-03-11T09:00:00Z", "n": 30}
    assert second["overall"]["sum"] == 40.0 + 50.0 and docs[CELL]["pending"] == {}


def test_re_assessments_count_once_per_organisation_and_one_undone_still_counts() -> None:
    """Nine organisations re-assess (one of them three times, back and forth): 9 organisations, no release;
    the tenth cuts it. A change undone leaves nothing in and out, but its organisation did change."""
    base = [at(1, firm(2.0)) for _ in range(20)]
    docs = projection(base)
    first = docs[CELL]["release"]
    current = list(base)
    for i in [0, 0, 0, *range(1, 9)]:
        new = at(5, firm(3.0 if current[i]["overall"] == 2.0 else 2.0, org=current[i]["organisation"]))
        add(docs, current[:i] + current[i + 1 :], current[i], new)
        current[i] = new
    assert docs[CELL]["release"] == first and len(docs[CELL]["pending"]) == 9
    assert docs[CELL]["pending"][base[0]["organisation"]] == {
        "in": [{"overall": 3.0, "scores": {"lean_introduction": 3.0}}],
        "out": [{"overall": 2.0, "scores": {"lean_introduction": 2.0}}],
    }
    new = at(6, firm(2.0, org=current[9]["organisation"]))  # the same value again: nothing changes but it counts
    add(docs, current[:9] + current[10:], current[9], new)
    assert docs[CELL]["release"]["no"] == first["no"] + 1 and docs[CELL]["release"]["overall"]["sum"] == 40.0 + 9 * 1.0


def test_an_organisation_sees_the_release_without_its_contributions_as_they_stood_then() -> None:
    """My organisation had two SMEs in the release (5.0 and 4.0) among 20 others at 2.0; since then one of
    mine re-assessed at 1.0 and a third of mine joined at 3.0. My peers are still the release's 20 others
    (mean 2.0 by hand), whatever my organisation did since."""
    others = [at(1, firm(2.0)) for _ in range(20)]
    mine = [at(1, firm(5.0, org="me")), at(1, firm(4.0, org="me"))]
    docs = projection([*others, *mine])
    assert docs[CELL]["release"]["n"] == 22
    changed, third = at(3, firm(1.0, org="me")), at(3, firm(3.0, org="me"))
    add(docs, [*others, mine[1]], mine[0], changed)
    add(docs, [*others, changed, mine[1]], None, third)
    assert docs[CELL]["release"]["n"] == 22 and docs[CELL]["n"] == 23
    now = [changed, mine[1], third]
    a = bm.benchmark(bm.ladder("wms", FACTS), docs, "me", now, third)
    assert a["group"]["level"] == "division_region_size" and a["group"]["n"] == 20
    assert a["overall"]["mean"] == 2.0 and a["group"]["organisations"] == 20


# Property: random populations, recomputed from the raw firms -----------------------------------------------------
DIVISIONS = [("C28", "C"), ("C26", "C"), ("M71", "M")]
REGIONS = [("IE05", "IE"), ("IE04", "IE"), ("ES61", "ES")]


Population = list[tuple[bm.Facts, float, str]]


@st.composite
def populations(draw: st.DrawFn) -> Population:
    """Firms over 3 divisions x 3 regions x 2 sizes and 2 councils; a firm belongs to one of three
    organisations with several SMEs, or is the only SME of its own."""
    n = draw(st.integers(min_value=1, max_value=70))
    out = []
    for i in range(n):
        d, sec = draw(st.sampled_from(DIVISIONS))
        r, c = draw(st.sampled_from(REGIONS))
        size = draw(st.sampled_from(["micro", "small"]))
        councils = draw(st.sampled_from([(), ("Cork",), ("Málaga",), ("Cork", "Málaga")]))
        score = draw(st.integers(min_value=4, max_value=20)) / 4
        org = draw(st.sampled_from(["acme", "bolt", "coda", "", "", "", ""])) or f"own-{i}"
        out.append((bm.Facts(d, sec, r, c, size, councils), score, org))
    return out


def in_group(f: bm.Facts, level: str, about: dict[str, str]) -> bool:
    if level == "council":
        return about["council"] in f.councils
    return all(getattr(f, k) == v for k, v in about.items())


def members(population: Population, gid: str) -> frozenset[int]:
    level = gid.split("|")[1]
    return frozenset(i for i, (f, _, _) in enumerate(population) if in_group(f, level, bm.identity(gid)["about"]))


def org_counts(population: Population, firms: frozenset[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in firms:
        out[population[i][2]] = out.get(population[i][2], 0) + 1
    return out


def nests(h: str, g: str) -> bool:
    """Every firm of group h is one of group g by their definitions (written here from the ladder's
    meaning, not from the code under test): anything in the network; division and section-in-region in the
    section of their country; a division in its section of the same region and size."""
    hl, *hp = h.split("|")[1:]
    gl, *gp = g.split("|")[1:]
    if h == g or hl == "network":
        return False
    if gl == "network":
        return True
    if gl == "section_country_size" and hl in ("section_region_size", "division_region_size"):
        return hp[0][0] == gp[0] and hp[1][:2] == gp[1] and hp[2] == gp[2]
    if gl == "section_region_size" and hl == "division_region_size":
        return hp[0][0] == gp[0] and hp[1:] == gp[1:]
    return False


def isolating(sets: dict[str, frozenset[int]]) -> list[tuple[str, list[str], int]]:
    """Brute-force differencing: every shown group less every combination of shown groups nested in it
    that are disjoint (ladder groups neither nesting in the other; councils whose firms do not meet),
    kept when 1..9 firms remain."""
    found = []
    for g, firms in sets.items():
        inner = [h for h in sorted(sets) if nests(h, g)]
        ladder = [h for h in inner if "|council|" not in h]
        councils = [h for h in inner if "|council|" in h]

        def apart(a: str, b: str) -> bool:
            if "|council|" in a:
                return not sets[a] & sets[b]
            return not nests(a, b) and not nests(b, a)

        def walk(family: list[str], start: int, chosen: list[str], covered: int, g: str, firms: frozenset[int]) -> None:
            if chosen and 0 < len(firms) - covered < bm.MEAN_MIN:
                found.append((g, chosen, len(firms) - covered))
            for j in range(start, len(family)):
                h = family[j]
                if all(apart(h, c) for c in chosen):
                    walk(family, j + 1, [*chosen, h], covered + len(sets[h]), g, firms)

        walk(ladder, 0, [], 0, g, firms)
        walk(councils, 0, [], 0, g, firms)
    return found


def released_sets(
    population: Population, reassessed: list[tuple[int, float]]
) -> dict[str, dict[int, tuple[float, str]]]:
    """The oracle of releases, from the rule as stated (not from the code): per group, its firms' values as
    they were when firms of 10 distinct organisations had joined or changed since the group's last release."""
    gids = {g for f, _, _ in population for g in bm.memberships("wms", f)}
    now: dict[str, dict[int, tuple[float, str]]] = {g: {} for g in gids}
    changed: dict[str, set[str]] = {g: set() for g in gids}
    out: dict[str, dict[int, tuple[float, str]]] = {}
    steps = [(i, s) for i, (_, s, _) in enumerate(population)] + reassessed
    for i, score in steps:
        f, _, org = population[i]
        for g in bm.memberships("wms", f):
            now[g][i] = (score, org)
            changed[g].add(org)
            if len(changed[g]) >= 10:
                out[g], changed[g] = dict(now[g]), set()
    return out


@settings(max_examples=150, deadline=None)
@given(populations(), st.data())
def test_no_answer_is_computed_over_fewer_firms_or_organisations_than_the_threshold_nor_over_the_askers(
    population: Population, data: st.DataObject
) -> None:
    n = len(population)
    again = st.tuples(st.integers(0, n - 1), st.integers(4, 20).map(lambda q: q / 4))
    reassessed = data.draw(st.lists(again, max_size=40), label="re-assessments")
    firms = [
        {"groups": bm.memberships("wms", f), "overall": s, "scores": {"p": s}, "organisation": o}
        for f, s, o in population
    ]
    docs = joined(firms)
    for i, score in reassessed:
        new = {**firms[i], "overall": score, "scores": {"p": score}}
        add(docs, firms[:i] + firms[i + 1 :], firms[i], new)
        firms[i] = new
    oracle = released_sets(population, reassessed)
    children = children_of(docs)
    for gid, doc in docs.items():  # a group keeps the released sizes of the groups that name it parent
        assert sorted((c["_id"], c["n"]) for c in doc["children"]) == sorted(
            (c["_id"], len(oracle[c["_id"]])) for c in children.get(gid, []) if c["_id"] in oracle
        )
        sizes = org_counts(population, members(population, gid)).values()  # org_sizes recounted by hand
        assert doc["org_sizes"] == {str(k): list(sizes).count(k) for k in set(sizes)}
        assert bm.release_of(doc)["n"] == len(oracle.get(gid, {}))
    # analysts' view: a release of at least 10 firms of 10 organisations, none with more than half; no
    # combination of shown groups isolates 1..9 firms
    sets = {gid: frozenset(oracle[gid]) for gid, doc in docs.items() if doc["state"]["shown"]}
    for m in sets.values():
        orgs = org_counts(population, m)
        assert len(m) >= bm.MEAN_MIN and len(orgs) >= bm.MEAN_MIN and 2 * max(orgs.values()) <= len(m)
    assert isolating(sets) == []
    for i, (facts, _score, org) in enumerate(population):
        me = firms[i]
        mine = [c for c in firms if c["organisation"] == org]
        a = bm.benchmark(bm.ladder("wms", facts), docs, org, mine, me)
        if a["group"] is None:
            assert a["overall"] is None and a["practices"] == {}
        else:
            rel = oracle[a["group"]["id"]]
            peers = [v for j, (v, o) in sorted(rel.items()) if o != org]  # no SME of mine, as released
            peer_orgs = {o for _, o in rel.values() if o != org}
            assert len(peers) >= bm.MEAN_MIN and len(peer_orgs) >= bm.MEAN_MIN and a["group"]["id"] in sets
            assert 2 * max(sum(o == x for _, o in rel.values()) for x in peer_orgs) <= len(peers)
            out = a["overall"]
            assert out["n"] == a["group"]["n"] == len(peers) and a["group"]["organisations"] == len(peer_orgs)
            assert out["mean"] == tenth(statistics.fmean(peers))
            if len(peers) >= bm.QUARTILE_MIN and len(peer_orgs) >= bm.QUARTILE_MIN:
                assert out["quartiles"] == [tenth(q) for q in statistics.quantiles(peers, n=4, method="inclusive")]
            else:
                assert "quartiles" not in out and "band" not in out
        # every narrower rung passed over is sized as released, without my organisation
        for p in a["passed_over"]:
            assert p["n"] == len([1 for _, o in oracle.get(p["group"], {}).values() if o != org])


def test_the_brute_force_oracle_finds_the_probe_s_combination() -> None:
    """The oracle itself can fail: the tester's three groups, all taken as shown, isolate the one firm."""
    facts = [("C28", 24), ("C22", 10), ("C24", 1)]
    population = [(bm.Facts(d, "C", "IE05", "IE", "small", ()), 2.0, "") for d, k in facts for _ in range(k)]
    gids = [SECTION, "wms|division_region_size|C28|IE05|small", "wms|division_region_size|C22|IE05|small"]
    found = isolating({g: members(population, g) for g in gids})
    assert found == [(SECTION, sorted(gids[1:]), 1)]
