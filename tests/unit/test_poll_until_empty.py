"""Issue 14: once the state was seen in flux, an empty re-plan counts only when seen twice in a row."""

from __future__ import annotations

import asyncio

from kodo_provision.apply.verify import poll_until_empty
from kodo_provision.plan.model import Plan, RemoveOrphanSecret

STEP = RemoveOrphanSecret("00000000-0000-0000-0000-000000000001", "x")


def run(sequence: list[bool]) -> tuple[Plan, int]:
    """Feed re-plans (True: empty) and count how many were read."""
    calls = 0

    async def replan() -> Plan:
        nonlocal calls
        empty = sequence[min(calls, len(sequence) - 1)]
        calls += 1
        return Plan(()) if empty else Plan((STEP,))

    plan = asyncio.run(poll_until_empty(replan, budget_s=30, initial_s=0.001, max_s=0.002))
    return plan, calls


def test_an_empty_first_replan_is_accepted_at_once():
    plan, calls = run([True])
    assert plan.is_empty and calls == 1


def test_after_flux_an_empty_replan_must_be_seen_twice_in_a_row():
    plan, calls = run([False, True, False, True, True])
    assert plan.is_empty and calls == 5


def test_a_state_that_never_settles_is_returned_when_the_budget_ends():
    plan, _calls = asyncio.run(_never_settles())
    assert not plan.is_empty


async def _never_settles() -> tuple[Plan, int]:
    async def replan() -> Plan:
        return Plan((STEP,))

    return await poll_until_empty(replan, budget_s=0.05, initial_s=0.001, max_s=0.002), 0
