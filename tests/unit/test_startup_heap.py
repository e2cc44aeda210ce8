"""The serving process's start-up heap is left out of later cyclic collections (``freeze_startup_heap``,
called from ``uvicorn_options`` just before ``clustergrowth run`` serves), after its garbage is
collected (frozen garbage would never be freed), and young collections come after ten times as many
allocations and full collections are checked for ten times less often than CPython's defaults."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from clustergrowth.httpserver import uvicorn_options
from clustergrowth.settings import RuntimeSettings


class Node:
    """A tracked object that can form a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Start and end with nothing frozen, so the other tests' collections are as before; no automatic
    collection in between (it could free the test's cycle before the call under test does)."""
    thresholds = gc.get_threshold()
    gc.unfreeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def tracked(obj: object) -> bool:
    """Whether ``obj`` is in a generation the collector still walks (frozen objects are not listed)."""
    return any(o is obj for o in gc.get_objects())


def test_serving_options_freeze_what_lives_and_collect_the_garbage_first(unfrozen: None, tmp_path: Path) -> None:
    live = Node()
    garbage_a, garbage_b = Node(), Node()
    garbage_a.other, garbage_b.other = garbage_b, garbage_a  # a cycle only the cyclic collector frees
    gone = weakref.ref(garbage_a)
    del garbage_a, garbage_b
    assert tracked(live) and gone() is not None

    uvicorn_options(RuntimeSettings(data_dir=tmp_path))

    assert gone() is None  # collected before the freeze, not kept for ever
    assert not tracked(live)  # frozen: no later collection walks it
    assert gc.get_freeze_count() > 0
    made_after = Node()
    assert tracked(made_after)  # what a request makes is collected as before


def test_serving_options_collect_the_young_every_7000_and_check_for_a_full_collection_every_100_middle_ones(
    unfrozen: None, tmp_path: Path
) -> None:
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    uvicorn_options(RuntimeSettings(data_dir=tmp_path))
    assert gc.get_threshold() == (7000, 10, 100)  # the middle generation's as it was
