"""The REST port's budget of body bytes in progress: a call past it waits, holding nothing."""

from __future__ import annotations

import asyncio

from serving.server.rest.server import BodyBudget


def test_a_call_past_the_budget_waits_for_room():
    async def scenario() -> list[str]:
        budget = BodyBudget(100)
        events: list[str] = []

        async def call(name: str, size: int, hold: float) -> None:
            async with budget.reserve(size):
                events.append(f"{name} in")
                await asyncio.sleep(hold)
            events.append(f"{name} out")

        first = asyncio.create_task(call("a", 60, 0.2))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(call("b", 60, 0))
        small = asyncio.create_task(call("c", 40, 0))
        await asyncio.gather(first, second, small)
        return events

    events = asyncio.run(scenario())
    assert events.index("b in") > events.index("a out")  # 60 + 60 > 100: b waited for a
    assert events.index("c in") < events.index("a out")  # 60 + 40 fits: c did not


def test_a_body_above_the_budget_still_gets_the_whole_budget():
    async def scenario() -> bool:
        budget = BodyBudget(100)
        async with budget.reserve(10_000):
            return True

    assert asyncio.run(asyncio.wait_for(scenario(), 5))
