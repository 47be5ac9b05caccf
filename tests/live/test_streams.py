"""Redis Streams with consumer groups: acknowledgements and pending-entry recovery after a crash."""

from __future__ import annotations

import pytest
from redis.exceptions import ResponseError

from smc_agent.live.streams import MemoryStreamBus, RedisStreamBus


async def test_pending_entries_are_redelivered_to_the_restarted_consumer(redis_pair: tuple[str, str]) -> None:
    bus = RedisStreamBus(redis_pair[0])
    try:
        for i in range(3):
            await bus.publish("s", {"n": str(i)})
        first = bus.consumer("s", group="g", name="worker-1")
        got = await first.read(count=10, block_ms=100)
        assert [f["n"] for _, f in got] == ["0", "1", "2"]
        await first.ack(got[0][0])  # then "crash" with two entries unacknowledged
        restarted = bus.consumer("s", group="g", name="worker-1")
        again = await restarted.read(count=10, block_ms=100)
        assert [f["n"] for _, f in again] == ["1", "2"]
        for entry_id, _ in again:
            await restarted.ack(entry_id)
        assert await restarted.read(count=10, block_ms=50) == []
    finally:
        await bus.close()


async def test_entries_of_a_dead_consumer_are_claimed_by_another(redis_pair: tuple[str, str]) -> None:
    bus = RedisStreamBus(redis_pair[0])
    try:
        await bus.publish("s2", {"n": "x"})
        dead = bus.consumer("s2", group="g", name="dead", claim_idle_ms=50)
        assert len(await dead.read(count=10, block_ms=100)) == 1  # never acknowledged
        other = bus.consumer("s2", group="g", name="other", claim_idle_ms=50)
        other._own_pending_done = True
        import asyncio

        await asyncio.sleep(0.1)
        claimed = await other.read(count=10, block_ms=50)
        assert [f["n"] for _, f in claimed] == ["x"]
        await other.ack(claimed[0][0])
        info = await bus.client.xpending("s2", "g")
        assert info["pending"] == 0
    finally:
        await bus.close()


async def test_memory_bus_delivers_each_entry_once_per_group() -> None:
    bus = MemoryStreamBus()
    await bus.publish("s", {"n": "1"})
    a = bus.consumer("s", group="g1", name="a")
    b = bus.consumer("s", group="g2", name="b")
    assert len(await a.read(block_ms=10)) == 1
    assert len(await b.read(block_ms=10)) == 1
    assert await a.read(block_ms=10) == []


async def test_a_consumer_makes_its_group_again_after_redis_lost_its_data(
    redis_pair: tuple[str, str],
) -> None:
    # a Redis restarted without its data has no consumer group: every read failed with NOGROUP for good
    bus = RedisStreamBus(redis_pair[0])
    try:
        consumer = bus.consumer("s", group="g", name="worker-1")
        assert await consumer.read(count=10, block_ms=10) == []
        await bus.client.flushdb()  # what a restart without persistence leaves
        await bus.publish("s", {"n": "0"})
        with pytest.raises(ResponseError, match="NOGROUP"):
            await consumer.read(count=10, block_ms=10)
        await bus.publish("s", {"n": "1"})
        got = await consumer.read(count=10, block_ms=10)  # the loop's retry: the group is made again
        assert [f["n"] for _, f in got] == ["0", "1"]
    finally:
        await bus.close()
