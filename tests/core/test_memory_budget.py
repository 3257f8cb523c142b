"""The budget of bytes a transfer's threads hold in memory at once (the waits are shown by
the push that holds them: tests/e2e/test_push.py)."""

from __future__ import annotations

from datayard.core.memory_budget import MemoryBudget


def test_a_body_larger_than_the_budget_takes_all_of_it_then_gives_it_back() -> None:
    budget = MemoryBudget(100)
    taken = budget.take(1_000)
    assert taken == 100
    budget.give_back(taken)
    with budget.held(100):  # all of it was free again, or this would wait forever
        pass
