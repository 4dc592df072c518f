"""A chunk's time budget comes from its Lambda context, minus the safety margin."""

from __future__ import annotations

from chalicelib.domain.jobs import SAFETY_MARGIN_SECONDS, Budget, safety_margin, seconds_left


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_seconds_left_is_the_remaining_time_minus_the_margin() -> None:
    assert seconds_left(Context(30_000), 900) == 30.0 - SAFETY_MARGIN_SECONDS
    assert seconds_left(None, 30) == 30.0 - SAFETY_MARGIN_SECONDS  # no context: the configured timeout
    # a short invocation keeps a fifth of its time, so it still works
    assert seconds_left(Context(3_000), 900) == 2.4
    assert seconds_left(Context(0), 900) == 0.0


def test_the_margin_is_five_seconds_or_a_fifth_of_a_short_invocation() -> None:
    assert safety_margin(900.0) == safety_margin(25.0) == SAFETY_MARGIN_SECONDS
    assert safety_margin(10.0) == 2.0
    assert safety_margin(-1.0) == 0.0


def test_a_budget_follows_the_context_and_is_spent_at_the_margin() -> None:
    context = Context(30_000)
    budget = Budget.for_lambda(100, context, 30)
    assert not budget.spent(0) and budget.left() == 25.0
    context.remaining_ms = int(SAFETY_MARGIN_SECONDS * 1000) + 1
    assert not budget.spent(99)
    assert budget.spent(100)  # the item cap binds too
    context.remaining_ms = int(SAFETY_MARGIN_SECONDS * 1000)
    assert budget.spent(0)


def test_the_cap_binds_when_it_is_shorter_than_the_lambda() -> None:
    context = Context(25_000)
    budget = Budget.for_lambda(100, context, 30, cap_seconds=2.0)
    assert budget.left() == 2.0
    context.remaining_ms = 22_500
    assert budget.left() == -0.5 and budget.spent(0)
    page = budget.page(10)
    assert page.items == 10 and page.spent(0)  # a page shares its budget's deadline
