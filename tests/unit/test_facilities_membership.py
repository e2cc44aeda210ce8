"""Facilities learns council membership: the ``member_of_councils`` booking rule at its boundary, and the
``council_members`` projection fed by MemberJoined / MemberLeft (idempotent, order-independent, rebuilt by
replaying the log into an empty store)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.problems import Forbidden
from clustergrowth.store.sqlite import SqliteStore
from contracts import councils as cev
from services.facilities import consumers
from services.facilities import store as st
from services.facilities.domain.model import Booker, BookingPolicy, OpeningHours, Resource, ResourceDay

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday
MON = date(2026, 11, 30)
HOURS = OpeningHours({d: [(time(8), time(20))] for d in ("mon", "tue", "wed", "thu", "fri")})
CORK, BOLOGNA = "council-cork", "council-bologna"
PERSON = "p-" + "a" * 26


def desk(*councils: str) -> Resource:
    policy = BookingPolicy(member_of_councils=councils)
    return Resource("r1", "s1", "Council desk", "hot_desk", 1, policy, "IE05", "Europe/Dublin", HOURS)


def booker(*councils: str) -> Booker:
    return Booker(PERSON, frozenset({"sme_member"}), "IE05", "IE05:acme", councils=frozenset(councils))


def book(resource: Resource, who: Booker) -> None:
    ResourceDay("r1", MON).book(
        resource, who, datetime(2026, 11, 30, 9, tzinfo=UTC), datetime(2026, 11, 30, 10, tzinfo=UTC), NOW
    )


def test_a_member_of_the_named_council_may_book() -> None:
    book(desk(CORK), booker(CORK))


def test_a_member_of_any_one_of_the_named_councils_may_book() -> None:
    book(desk(BOLOGNA, CORK), booker(CORK))


def test_a_non_member_is_refused_with_the_policy_and_the_councils_named() -> None:
    with pytest.raises(Forbidden) as e:
        book(desk(CORK), booker())
    assert "member_of_councils" in e.value.detail and CORK in e.value.detail
    assert e.value.extensions == {"member_of_councils": [CORK]}


def test_membership_of_another_council_does_not_count() -> None:
    with pytest.raises(Forbidden, match=CORK):
        book(desk(CORK), booker(BOLOGNA))


def test_an_empty_list_restricts_nobody() -> None:
    book(desk(), booker())


def test_the_policy_round_trips_through_its_document_and_old_documents_mean_no_restriction() -> None:
    policy = BookingPolicy(member_of_councils=(CORK, BOLOGNA))
    assert BookingPolicy.from_doc(policy.to_doc()) == policy
    old = {k: v for k, v in policy.to_doc().items() if k != "member_of_councils"}  # stored before the rule
    assert BookingPolicy.from_doc(old).member_of_councils == ()


# The projection ---------------------------------------------------------------------------------------
def joined(member_id: str, council: str = CORK, person: str = PERSON) -> CloudEvent:
    data = cev.MemberJoined(
        council_id=council,
        member_id=member_id,
        person=person,
        organisation="IE05:acme",
        constituency="sme",
        position="member",
        region="IE05",
        joined_at="2026-10-01T00:00:00.000000Z",
    )
    return make_event(data, key=council, region="IE05", source="/regions/IE05/councils")


def left(member_id: str, council: str = CORK, person: str = PERSON) -> CloudEvent:
    data = cev.MemberLeft(
        council_id=council,
        member_id=member_id,
        person=person,
        constituency="sme",
        region="IE05",
        left_at="2026-11-01T00:00:00.000000Z",
        reason="resigned",
    )
    return make_event(data, key=council, region="IE05", source="/regions/IE05/councils")


@pytest.fixture
async def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "facilities.sqlite")


async def councils(store: SqliteStore, person: str = PERSON) -> frozenset[str]:
    return consumers.councils_of(await store.get(st.COUNCIL_MEMBERS, person))


async def test_joined_makes_a_member_and_left_ends_it(store: SqliteStore) -> None:
    p = consumers.MembershipProjection(store)
    assert await councils(store) == frozenset()
    await p.handle(joined("m1"))
    assert await councils(store) == {CORK}
    await p.handle(joined("m2", BOLOGNA))
    assert await councils(store) == {CORK, BOLOGNA}
    await p.handle(left("m1"))
    assert await councils(store) == {BOLOGNA}


async def test_a_redelivered_event_changes_nothing(store: SqliteStore) -> None:
    p = consumers.MembershipProjection(store)
    j, gone = joined("m1"), left("m1")
    for e in (j, gone, j, gone):
        await p.handle(e)
    doc = await store.get(st.COUNCIL_MEMBERS, PERSON)
    assert doc is not None
    assert doc["memberships"] == [{"member_id": "m1", "council_id": CORK, "active": False}]


async def test_a_rejoin_is_a_new_membership_and_makes_the_person_a_member_again(store: SqliteStore) -> None:
    p = consumers.MembershipProjection(store)
    for e in (joined("m1"), left("m1"), joined("m3")):
        await p.handle(e)
    assert await councils(store) == {CORK}


async def test_a_left_that_arrives_first_is_not_undone_by_its_joined(store: SqliteStore) -> None:
    p = consumers.MembershipProjection(store)
    await p.handle(left("m1"))
    await p.handle(joined("m1"))
    assert await councils(store) == frozenset()


async def test_other_councils_events_are_ignored(store: SqliteStore) -> None:
    formed = cev.CouncilFormed(
        council_id=CORK,
        city="Cork",
        region="IE05",
        host_organisation="IE05:MTU",
        themes=["finance"],
        formed_at="2026-09-01T00:00:00.000000Z",
    )
    await consumers.MembershipProjection(store).handle(make_event(formed, key=CORK, region="IE05", source="/x"))
    assert await store.count(st.COUNCIL_MEMBERS) == 0


async def test_replaying_the_log_into_an_empty_store_gives_the_same_memberships(tmp_path: Path) -> None:
    log = [joined("m1"), joined("m2", BOLOGNA), left("m1"), joined("m4", CORK, "p-" + "b" * 26)]
    live, replayed = SqliteStore(tmp_path / "live.sqlite"), SqliteStore(tmp_path / "replayed.sqlite")
    for e in [*log, log[0], log[2]]:  # live: with redeliveries
        await consumers.MembershipProjection(live).handle(e)
    for e in log:
        await consumers.MembershipProjection(replayed).handle(e)

    def state(docs: list[dict[str, object]]) -> list[tuple[object, object]]:
        return sorted((d["_id"], d["memberships"]) for d in docs)  # type: ignore[type-var]

    assert state(await live.find(st.COUNCIL_MEMBERS, {})) == state(await replayed.find(st.COUNCIL_MEMBERS, {}))
    assert await councils(replayed) == {BOLOGNA} and await councils(replayed, "p-" + "b" * 26) == {CORK}
