"""Coalesced /v1/status: concurrent callers share computations, never get a result older than their request."""

from __future__ import annotations

import asyncio
import threading
import time

from smc_agent.api.coalesce import Coalescer


async def test_callers_share_computations_but_get_fresh_results() -> None:
    starts: list[float] = []
    lock = threading.Lock()

    def compute() -> int:
        with lock:
            starts.append(time.monotonic())
            n = len(starts)
        time.sleep(0.1)
        return n

    coalescer: Coalescer[int] = Coalescer(compute)
    first = asyncio.create_task(coalescer.get())
    await asyncio.sleep(0.03)
    arrived = time.monotonic()
    late = [asyncio.create_task(coalescer.get()) for _ in range(20)]
    results = await asyncio.gather(first, *late)
    assert results[0] == 1
    assert set(results[1:]) == {2}  # 20 late callers shared ONE computation...
    assert len(starts) == 2
    assert starts[1] >= arrived  # ...that started after they arrived (no stale answer)
    assert await coalescer.get() == 3  # idle again: a new caller starts a new computation


async def test_errors_reach_every_waiting_caller() -> None:
    calls = {"n": 0}

    def compute() -> int:
        calls["n"] += 1
        time.sleep(0.05)
        raise RuntimeError("probe exploded")

    coalescer: Coalescer[int] = Coalescer(compute)
    results = await asyncio.gather(*(coalescer.get() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls["n"] == 2
