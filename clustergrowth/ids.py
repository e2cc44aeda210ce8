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


def uuid4() -> uuid.UUID:
    """A random (version 4) UUID, as ``uuid.uuid4()``."""
    global _page, _at
    with _lock:
        if _at + 16 > len(_page):
            _page, _at = os.urandom(PAGE_BYTES), 0
        raw = _page[_at : _at + 16]
        _at += 16
    return uuid.UUID(bytes=raw, version=4)
