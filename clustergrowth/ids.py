"""Random ids (UUID version 4) from the operating system's randomness, read a page at a time.

``uuid.uuid4()`` makes one ``os.urandom(16)`` system call per id. A system call lets go of the GIL, and
under load the event loop then waits for a busy thread (the store's statement thread) to hand it back:
py-spy put ``uuid4`` at about 5 % of the split API's samples in ``bench.contention``. Here the same
kernel randomness is read 4 KiB at a time (256 ids a call) and handed out in 16-byte slices, each used
once, so ids stay as unpredictable as ``uuid4``'s (a seeded PRNG, as the request and trace ids use, would
not be: a booking's id is in its URL). A forked child drops the page it inherited, so parent and child
never hand out the same bytes, and the lock, which another thread may have held at the fork.
"""

from __future__ import annotations

import os
import threading
import uuid

PAGE_BYTES = 4096
_lock = threading.Lock()  # ids are made on more than one thread (the event loop's, executors')
_page = b""
_at = 0


def _forget() -> None:
    """In a forked child: a page of its own, and a lock of its own (the parent's may have been held by
    another thread at the fork, which the child does not have: it would never be released)."""
    global _page, _at, _lock
    _page, _at = b"", 0
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget)


def _random16() -> bytes:
    global _page, _at
    with _lock:
        if _at + 16 > len(_page):
            _page, _at = os.urandom(PAGE_BYTES), 0
        raw = _page[_at : _at + 16]
        _at += 16
    return raw


def uuid4() -> uuid.UUID:
    """A random (version 4) UUID, as ``uuid.uuid4()``."""
    return uuid.UUID(bytes=_random16(), version=4)


def v4_hex(raw: bytes) -> str:
    """``uuid.UUID(bytes=raw, version=4).hex`` without making the UUID (its ``__init__`` is Python: 2.5 µs
    of the 3 an id took): the version's and the variant's bits set in the bytes."""
    b = bytearray(raw)
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    return b.hex()


def uuid4_hex() -> str:
    """``uuid4().hex``: 32 hex digits of a random version 4 UUID (a booking's id, a waitlist entry's)."""
    return v4_hex(_random16())


def uuid4_str() -> str:
    """``str(uuid4())``: the 8-4-4-4-12 form (an event's id)."""
    h = v4_hex(_random16())
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
