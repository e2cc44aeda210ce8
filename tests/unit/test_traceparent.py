"""Fresh W3C traceparents: the format of version 00, distinct ids, never an all-zero trace or span id."""

from __future__ import annotations

import random
import re

import pytest

from clustergrowth import envelope

W3C = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def test_fresh_traceparents_have_the_w3c_form_and_do_not_repeat() -> None:
    made = [envelope.new_traceparent() for _ in range(2000)]
    assert all(W3C.match(t) for t in made)
    assert len({t[3:35] for t in made}) == len({t[36:52] for t in made}) == 2000


class Scripted(random.Random):
    """Gives the listed draws, in order."""

    def __init__(self, draws: list[int]) -> None:
        super().__init__(0)
        self.draws = draws

    def getrandbits(self, k: int) -> int:
        assert k == 192
        return self.draws.pop(0)


@pytest.mark.parametrize(
    "draws",
    [
        [0, (1 << 64) | 1],  # both ids zero
        [5, (1 << 64) | 1],  # trace id zero (the high 128 bits)
        [7 << 64, (1 << 64) | 1],  # span id zero (the low 64 bits)
    ],
)
def test_an_all_zero_id_is_drawn_again(monkeypatch: pytest.MonkeyPatch, draws: list[int]) -> None:
    monkeypatch.setattr(envelope, "_ids", Scripted(draws))
    assert envelope.new_traceparent() == f"00-{1:032x}-{1:016x}-01"


def test_the_highest_ids_keep_their_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envelope, "_ids", Scripted([(1 << 192) - 1]))
    assert envelope.new_traceparent() == f"00-{'f' * 32}-{'f' * 16}-01"
