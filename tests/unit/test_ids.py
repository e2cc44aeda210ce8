"""Random ids read a page of the kernel's randomness at a time: each is a version 4 UUID, no two alike,
a new page read when one runs out, and a forked child never repeats its parent's."""

from __future__ import annotations

import os
import select
import signal
import uuid

import pytest

from clustergrowth import ids


def test_an_id_is_a_random_uuid_of_version_4_and_rfc_4122_variant() -> None:
    for _ in range(300):  # more than a page's 256 ids
        u = ids.uuid4()
        assert u.version == 4 and u.variant == uuid.RFC_4122
        assert str(u) == str(uuid.UUID(str(u)))  # the usual text form


@pytest.mark.parametrize("raw", [bytes(16), b"\xff" * 16, bytes(range(16)), os.urandom(16), os.urandom(16)])
def test_the_text_forms_are_the_uuid_modules_own(raw: bytes) -> None:
    made = uuid.UUID(bytes=raw, version=4)  # the oracle: the standard library sets the version and variant bits
    assert ids.v4_hex(raw) == made.hex


def test_the_text_forms_read_back_as_random_uuids_of_version_4() -> None:
    for _ in range(300):  # more than a page
        h, s = ids.uuid4_hex(), ids.uuid4_str()
        for u in (uuid.UUID(hex=h), uuid.UUID(s)):
            assert u.version == 4 and u.variant == uuid.RFC_4122
        assert uuid.UUID(hex=h).hex == h and str(uuid.UUID(s)) == s


def test_no_two_ids_alike_across_pages() -> None:
    many = [ids.uuid4() for _ in range(5 * ids.PAGE_BYTES // 16 + 7)]
    assert len(set(many)) == len(many)


def test_a_page_of_256_ids_is_read_in_one_call_and_the_257th_reads_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = os.urandom

    def counted(n: int) -> bytes:
        reads.append(n)
        return real(n)

    monkeypatch.setattr(ids, "_page", b"")  # start on an empty page
    monkeypatch.setattr(ids, "_at", 0)
    monkeypatch.setattr(ids.os, "urandom", counted)
    first = [ids.uuid4() for _ in range(256)]
    assert reads == [4096]
    ids.uuid4()
    assert reads == [4096, 4096]
    assert len(set(first)) == 256


def test_the_bytes_are_the_pages_own_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    page = bytes(range(256)) * 16  # 4096 known bytes
    monkeypatch.setattr(ids, "_page", b"")
    monkeypatch.setattr(ids, "_at", 0)
    monkeypatch.setattr(ids.os, "urandom", lambda n: page[:n])
    a, b = ids.uuid4(), ids.uuid4()
    # bytes 0..15 and 16..31, with the version nibble set to 4 and the variant bits to 10
    assert a == uuid.UUID(bytes=bytes(range(16)), version=4)
    assert b == uuid.UUID(bytes=bytes(range(16, 32)), version=4)
    assert a.hex[12] == "4" and a.hex[16] in "89ab"


def test_a_forked_child_does_not_repeat_its_parents_next_ids() -> None:
    ids.uuid4()  # the parent holds a page it has begun
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        try:
            os.write(write, ids.uuid4().bytes)
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    parents = {ids.uuid4().bytes for _ in range(ids.PAGE_BYTES // 16)}  # all the rest of the parent's page
    assert len(child) == 16 and child not in parents


def test_a_child_forked_while_another_thread_made_an_id_can_make_its_own() -> None:
    """The lock is held across the kernel read; a fork at that moment leaves the child a lock nobody will
    release, unless the child makes its own. Here the parent holds it through the fork."""
    read, write = os.pipe()
    with ids._lock:
        pid = os.fork()
        if pid == 0:
            try:
                os.write(write, ids.uuid4().bytes)
            finally:
                os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 20)
    try:
        assert ready, "the forked child never made an id (it waits for its parent's lock)"
        assert len(os.read(read, 16)) == 16
    finally:
        os.close(read)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
