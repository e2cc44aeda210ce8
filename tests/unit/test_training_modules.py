"""Training modules in the unit tier: the domain's rules at their boundaries (capacity exactly full and
one over, the waitlist promoted in order when a place frees or capacity grows, attendance, completion at
exactly the required sessions and one below, before and after the last session), and the badges module
(an OpenBadgeCredential verified by PyJWT with the published JWK, tampered / another key / revoked /
expired / not yet valid refused, the status list's bits read back by hand)."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from clustergrowth.problems import Conflict, NotFound, Problem
from services.training.modules import badges
from services.training.modules import domain as dm

NOW = "2027-03-01T09:00:00.000000Z"
P = [f"p-{c * 26}" for c in "abcdefgh"]


def sessions(*days: int) -> list[dict[str, Any]]:
    return [
        {"title": f"S{d}", "start": f"2027-03-{d:02d}T10:00:00.000000Z", "end": f"2027-03-{d:02d}T12:00:00.000000Z"}
        for d in days
    ]


def module(capacity: int = 2, days: tuple[int, ...] = (2, 3, 4), min_sessions: int | None = None) -> dict[str, Any]:
    fields = {
        "title": "Lean operations",
        "description": "",
        "practices": ["ops_lean", "mon_kpi"],
        "language": "en",
        "format": "blended",
        "duration_hours": 12,
        "capacity": capacity,
        "sessions": sessions(*days),
        "min_sessions": min_sessions,
    }
    return dm.create("mod-1", "IE05", fields, "p-staff", NOW)


def enrol_all(doc: dict[str, Any], people: list[str]) -> tuple[dict[str, Any], list[Any]]:
    events: list[Any] = []
    for n, p in enumerate(people):
        doc, _, ev = dm.enrol(doc, f"e{n}", p, None, NOW)
        events += ev
    return doc, events


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {e["person"]: e["status"] for e in doc["enrolments"]}


def test_capacity_exactly_full_then_one_over_goes_to_the_waitlist() -> None:
    doc, events = enrol_all(module(capacity=2), P[:2])
    assert statuses(doc) == {P[0]: "confirmed", P[1]: "confirmed"}
    assert [(e.person, e.from_waitlist) for e in events] == [(P[0], False), (P[1], False)]
    doc, e, ev = dm.enrol(doc, "e2", P[2], None, NOW)
    assert e["status"] == "waitlisted" and ev == []
    assert dm.holding(doc) == 2 and [x["person"] for x in dm.waitlist(doc)] == [P[2]]


def test_a_freed_place_promotes_the_head_of_the_waitlist_in_order() -> None:
    doc, _ = enrol_all(module(capacity=1), P[:3])
    assert [x["person"] for x in dm.waitlist(doc)] == [P[1], P[2]]
    doc, promoted = dm.cancel(doc, "e0", NOW)
    assert [(e.person, e.from_waitlist) for e in promoted] == [(P[1], True)]
    assert statuses(doc) == {P[0]: "cancelled", P[1]: "confirmed", P[2]: "waitlisted"}
    # cancelling a waitlisted place frees nothing: no one is promoted
    doc, promoted = dm.cancel(doc, "e2", NOW)
    assert promoted == [] and statuses(doc)[P[2]] == "cancelled"


def test_more_capacity_promotes_as_many_as_it_frees_and_less_than_held_is_refused() -> None:
    doc, _ = enrol_all(module(capacity=1), P[:4])
    doc, promoted = dm.update(doc, {"capacity": 3}, NOW)
    assert [e.person for e in promoted] == [P[1], P[2]]
    assert [x["person"] for x in dm.waitlist(doc)] == [P[3]]
    with pytest.raises(Problem) as e:
        dm.update(doc, {"capacity": 2}, NOW)
    assert e.value.status == 422 and e.value.extensions["errors"][0]["field"] == "capacity"
    same, none = dm.update(doc, {"capacity": 3}, NOW)  # exactly those holding a place: allowed
    assert none == [] and dm.holding(same) == 3


def test_enrolling_twice_or_after_the_last_session_is_refused() -> None:
    doc, _ = enrol_all(module(), P[:1])
    with pytest.raises(Conflict):
        dm.enrol(doc, "x", P[0], None, NOW)
    with pytest.raises(Conflict):
        dm.enrol(module(), "x", P[1], None, "2027-03-04T12:00:00.000000Z")  # the last session's end
    _, just_before, _ = dm.enrol(module(), "x", P[1], None, "2027-03-04T11:59:59.999999Z")
    assert just_before["status"] == "confirmed"
    doc, _ = dm.cancel(doc, "e0", NOW)
    again, e, _ = dm.enrol(doc, "e9", P[0], None, NOW)  # after cancelling: enrols again, replacing it
    assert e["status"] == "confirmed" and len(again["enrolments"]) == 1


def test_the_waitlist_is_bounded() -> None:
    doc, _ = enrol_all(module(capacity=1), [f"p-{n:026d}" for n in range(1 + dm.MAX_WAITLIST)])
    assert len(dm.waitlist(doc)) == dm.MAX_WAITLIST
    with pytest.raises(Conflict):
        dm.enrol(doc, "last", "p-" + "z" * 26, None, NOW)


def test_sessions_must_end_after_they_start_and_not_overlap() -> None:
    bad = sessions(2, 3)
    bad[1]["end"] = bad[1]["start"]
    with pytest.raises(Problem) as e:
        dm.check_sessions(bad, None)
    assert e.value.extensions["errors"][0]["field"] == "sessions.1.end"
    overlap = sessions(2, 2)
    overlap[1]["start"] = "2027-03-02T11:59:00.000000Z"
    with pytest.raises(Problem) as e:
        dm.check_sessions(overlap, None)
    assert e.value.extensions["errors"][0]["field"] == "sessions.1.start"
    with pytest.raises(Problem) as e:
        dm.check_sessions(sessions(2, 3), 3)
    assert e.value.extensions["errors"][0]["field"] == "min_sessions"
    dm.check_sessions(sessions(2, 3), 2)  # exactly their number


def test_sessions_are_numbered_in_time_order() -> None:
    doc = module(days=(9, 2, 5))
    assert [(s["n"], s["title"]) for s in doc["sessions"]] == [(1, "S2"), (2, "S5"), (3, "S9")]


def test_attendance_names_only_confirmed_participants_and_sessions_that_started() -> None:
    doc, _ = enrol_all(module(capacity=1), P[:2])  # P1 waitlisted
    with pytest.raises(Conflict):
        dm.record_attendance(doc, 1, [P[0]], NOW)  # session 1 starts 2027-03-02
    later = "2027-03-02T10:00:00.000000Z"
    with pytest.raises(Problem) as e:
        dm.record_attendance(doc, 1, [P[1]], later)
    assert e.value.extensions["errors"][0]["field"] == "present"
    with pytest.raises(NotFound):
        dm.record_attendance(doc, 4, [], later)
    doc = dm.record_attendance(doc, 1, [P[0]], later)
    assert dm.find(doc, "e0")["attended"] == [1]
    doc = dm.record_attendance(doc, 1, [], later)  # corrected: absent after all
    assert dm.find(doc, "e0")["attended"] == []


def attended(doc: dict[str, Any], n_sessions: int) -> dict[str, Any]:
    for n in range(1, n_sessions + 1):
        doc = dm.record_attendance(doc, n, [P[0]], "2027-03-05T00:00:00.000000Z")
    return doc


AFTER = "2027-03-04T12:00:00.000000Z"  # the last session's end


def test_completion_at_exactly_the_required_sessions_and_not_one_below() -> None:
    doc, _ = enrol_all(module(min_sessions=2), P[:1])
    with pytest.raises(Conflict) as e:
        dm.check_completion(attended(doc, 1), "e0", AFTER)
    assert e.value.extensions["attended"] == 1
    done = attended(doc, 2)
    dm.check_completion(done, "e0", AFTER)
    with pytest.raises(Conflict):
        dm.check_completion(done, "e0", "2027-03-04T11:59:59.999999Z")  # the last session is not over
    new, event = dm.complete(done, "e0", {"id": "c1"}, AFTER)
    assert dm.find(new, "e0")["status"] == "completed" and event.credential_id == "c1"
    assert (event.module_id, event.person, event.practices) == ("mod-1", P[0], ["ops_lean", "mon_kpi"])
    with pytest.raises(Conflict):
        dm.complete(new, "e0", {"id": "c2"}, AFTER)  # once


def test_all_sessions_are_required_by_default() -> None:
    doc, _ = enrol_all(module(), P[:1])
    with pytest.raises(Conflict):
        dm.check_completion(attended(doc, 2), "e0", AFTER)
    dm.check_completion(attended(doc, 3), "e0", AFTER)


def test_a_completed_participant_keeps_the_place() -> None:
    doc, _ = enrol_all(module(capacity=1, min_sessions=1), P[:2])
    doc, _ = dm.complete(attended(doc, 1), "e0", {"id": "c"}, AFTER)
    assert dm.holding(doc) == 1 and dm.waitlist(doc)[0]["person"] == P[1]


# Badges ---------------------------------------------------------------------------------------------
def issuer(tmp_path: Path, name: str = "k.pem") -> badges.RegionIssuer:
    return badges.RegionIssuer(
        "https://ie05.test/api/v1/training", "IE05", "Cork", badges.load_or_create_key(tmp_path / name)
    )


ISSUED, UNTIL = "2027-03-05T00:00:00.000000Z", "2032-03-05T00:00:00.000000Z"


def issue(iss: badges.RegionIssuer, index: int = 7) -> str:
    doc, _ = enrol_all(module(), P[:1])
    _, token = iss.badge("11111111-2222-3333-4444-555555555555", doc, doc["enrolments"][0], index, ISSUED, UNTIL)
    return token


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_badge_is_an_open_badge_credential_that_pyjwt_verifies_with_the_published_jwk(tmp_path: Path) -> None:
    iss = issuer(tmp_path)
    token = issue(iss)
    (jwk,) = iss.jwks()["keys"]
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": jwk["kid"], "typ": "JWT"}
    claims = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], options={"verify_exp": False, "verify_nbf": False}
    )
    assert claims["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert claims["iss"] == claims["issuer"]["id"] == "https://ie05.test/api/v1/training/credentials/issuer"
    assert claims["jti"] == claims["id"] == "urn:uuid:11111111-2222-3333-4444-555555555555"
    assert claims["sub"] == claims["credentialSubject"]["id"] == f"urn:smeclustergrowth:person:{P[0]}"
    assert claims["nbf"] == 1804204800 and claims["validFrom"] == "2027-03-05T00:00:00Z"  # by hand: 2027-03-05 UTC
    assert (
        claims["exp"] == 1962057600
    )  # 22709 days: 2032 is a leap year and claims["validUntil"] == "2032-03-05T00:00:00Z"
    achievement = claims["credentialSubject"]["achievement"]
    assert achievement["type"] == ["Achievement"] and achievement["name"] == "Lean operations"
    assert achievement["criteria"]["narrative"].startswith("Attended at least 3 of the 3 sessions")
    assert claims["credentialStatus"] == {
        "id": "https://ie05.test/api/v1/training/credentials/status#7",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "7",
        "statusListCredential": "https://ie05.test/api/v1/training/credentials/status",
    }


def test_the_kid_is_the_rfc7638_thumbprint(tmp_path: Path) -> None:
    jwk = issuer(tmp_path).jwk
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}, separators=(",", ":"))
    import hashlib

    expected = base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=").decode()
    assert jwk["kid"] == expected and jwk["alg"] == "EdDSA" and jwk["use"] == "sig"


def test_the_key_is_made_once_and_kept(tmp_path: Path) -> None:
    a, b = issuer(tmp_path), issuer(tmp_path)
    assert a.jwk == b.jwk and oct((tmp_path / "k.pem").stat().st_mode)[-3:] == "600"
    assert issuer(tmp_path, "other.pem").jwk != a.jwk


def tamper(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["credentialSubject"]["achievement"]["name"] = "Something grander"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


def test_verify_refuses_tampered_foreign_revoked_expired_and_early(tmp_path: Path) -> None:
    iss = issuer(tmp_path)
    token = issue(iss, index=7)
    ok = badges.verify(iss, token, set(), at("2028-01-01T00:00:00.000000Z"))
    assert ok["valid"] and ok["errors"] == [] and all(ok["checks"].values())
    bad = badges.verify(iss, tamper(token), set(), at("2028-01-01T00:00:00.000000Z"))
    assert not bad["valid"] and bad["checks"]["signature"] is False
    foreign = badges.verify(iss, issue(issuer(tmp_path, "other.pem")), set(), at("2028-01-01T00:00:00.000000Z"))
    assert not foreign["valid"] and foreign["checks"]["signature"] is False
    revoked = badges.verify(iss, token, {7}, at("2028-01-01T00:00:00.000000Z"))
    assert not revoked["valid"] and revoked["checks"] == {
        "signature": True,
        "issuer": True,
        "type": True,
        "expiry": True,
        "revocation": False,
    }
    assert badges.verify(iss, token, {6, 8}, at("2028-01-01T00:00:00.000000Z"))["valid"]
    assert badges.verify(iss, token, set(), at(UNTIL))["checks"]["expiry"] is False  # exp is exclusive
    assert badges.verify(iss, token, set(), at("2032-03-04T23:59:59.000000Z"))["valid"]
    assert badges.verify(iss, token, set(), at(ISSUED))["valid"]  # nbf is inclusive
    assert badges.verify(iss, token, set(), at("2027-03-04T23:59:59.000000Z"))["checks"]["expiry"] is False


def test_verify_refuses_a_token_of_another_issuer_signed_with_this_key(tmp_path: Path) -> None:
    iss = issuer(tmp_path)
    other = badges.RegionIssuer("https://ith5.test/api/v1/training", "ITH5", "Bologna", iss.key)
    report = badges.verify(iss, issue(other), set(), at("2028-01-01T00:00:00.000000Z"))
    assert report["checks"]["signature"] is True and report["checks"]["issuer"] is False
    assert report["checks"]["revocation"] is False  # its status list is not this region's


def test_verify_refuses_an_unsigned_or_symmetric_token(tmp_path: Path) -> None:
    iss = issuer(tmp_path)
    claims = jwt.decode(issue(iss), options={"verify_signature": False})
    for token in (jwt.encode(claims, "secret-secret-secret-secret-32by", algorithm="HS256"), "not-a-jwt"):
        assert badges.verify(iss, token, set(), at("2028-01-01T00:00:00.000000Z"))["checks"]["signature"] is False


def bits_by_hand(encoded: str) -> str:
    body = encoded[1:]
    raw = gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return "".join(f"{b:08b}" for b in raw)


def test_the_status_list_sets_exactly_the_revoked_bits_from_the_left(tmp_path: Path) -> None:
    encoded = badges.encode_bits([0, 9, badges.STATUS_BITS - 1])
    assert encoded[0] == "u" and "=" not in encoded
    bits = bits_by_hand(encoded)
    assert len(bits) == 131072 and bits[:16] == "1000000001000000" and bits[-1] == "1" and bits.count("1") == 3
    assert [badges.bit(encoded, i) for i in (0, 1, 8, 9, 10, 131071)] == [True, False, False, True, False, True]
    with pytest.raises(ValueError):
        badges.bit(encoded, 131072)
    iss = issuer(tmp_path)
    token = iss.status_list([7], "2028-01-01T00:00:00.000000Z")
    claims = jwt.decode(token, jwt.PyJWK(iss.jwk).key, algorithms=["EdDSA"], options={"verify_nbf": False})
    assert claims["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    subject = claims["credentialSubject"]
    assert subject["statusPurpose"] == "revocation" and bits_by_hand(subject["encodedList"])[6:9] == "010"


def test_a_key_of_another_kind_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ec.pem").write_bytes(pem)
    with pytest.raises(ValueError):
        badges.read_key(tmp_path / "ec.pem")
    made = issuer(tmp_path).key
    read = badges.read_key(tmp_path / "k.pem")
    assert isinstance(read, ed25519.Ed25519PrivateKey) and badges.public_jwk(read.public_key()) == badges.public_jwk(
        made.public_key()
    )


def test_epoch_is_utc() -> None:
    assert badges.epoch("1970-01-02T00:00:00.000000Z") == 86400
    assert datetime.fromtimestamp(badges.epoch(ISSUED), UTC).isoformat() == "2027-03-05T00:00:00+00:00"
