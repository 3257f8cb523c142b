"""Sorting and freeing big collections in steps gives what the one-call versions give."""

from __future__ import annotations

import random

import pytest

from datayard.core.stepwise import STEP, release_stepwise, sorted_stepwise


@pytest.mark.parametrize("count", [0, 1, STEP - 1, STEP, STEP * 7 + 3])
def test_sorted_stepwise_is_sorted(count: int) -> None:
    rng = random.Random(count)
    names = [f"img_{rng.randrange(10**6):06d}.jpg" for _ in range(count)]
    assert sorted_stepwise(names) == sorted(names)
    assert sorted_stepwise(iter(names), key=len) == sorted(names, key=len)


def test_sorted_stepwise_is_stable_across_slices() -> None:
    # Few distinct keys, so equal keys fall in different slices; ties keep their order.
    pairs = [(index % 5, index) for index in range(STEP * 4)]
    random.Random(1).shuffle(pairs)
    assert sorted_stepwise(pairs, key=lambda pair: pair[0]) == sorted(pairs, key=lambda p: p[0])


def test_release_stepwise_empties_the_list() -> None:
    items = [object() for _ in range(STEP * 3 + 1)]
    release_stepwise(items)
    assert items == []
