"""Per key / user and login limits shared by API replicas through Redis; Redis down = local limits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from smc_agent.api.ratelimit import Limit, SharedRateLimiter
from smc_agent.control.redis_kv import RedisKeyValueStore
from tests.api.conftest import build_container, open_api, tight_limits

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_two_replicas_enforce_one_limit_per_user(
    migrated_pg_url: str, redis_pair: tuple[str, str], tmp_path: Path
) -> None:
    control_url, session_url = redis_pair
    db = int(session_url.rsplit("/", 1)[1])
    limits = tight_limits(per_minute=60, burst=4)
    replicas = [
        open_api(build_container(migrated_pg_url, tmp_path / name, control_url, db), rate_limits=limits)
        for name in ("a", "b")
    ]
    a, b = (next(r) for r in replicas)
    try:
        headers = a.headers("alice")  # the session lives in Redis: valid on both replicas
        codes = [(a if i % 2 else b).client.get("/v1/bots", headers=headers).status_code for i in range(6)]
        # burst 4 in all (a login is not a request of the user's bucket): 4 x 200, then 429 on either
        assert codes == [200, 200, 200, 200, 429, 429], codes
        refused = b.client.get("/v1/bots", headers=headers)
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 2
        assert a.client.get("/v1/bots", headers=a.headers("bob")).status_code == 200  # bob's own bucket
    finally:
        for r in replicas:
            next(r, None)


def test_redis_down_falls_back_to_the_local_bucket(redis_pair: tuple[str, str]) -> None:
    dead = RedisKeyValueStore("redis://127.0.0.1:1/0").client  # the client the API uses, nothing listening
    limiter = SharedRateLimiter(Limit(per_minute=1, burst=2), dead, name="t")
    assert [limiter.hit("k") for _ in range(3)] == [0, 0, 60]  # still limited, in this process


def test_gcra_refills_at_the_configured_rate(redis_pair: tuple[str, str]) -> None:
    client = redis.Redis.from_url(redis_pair[0])
    limiter = SharedRateLimiter(Limit(per_minute=600, burst=2), client, name="refill")  # 10/s
    limiter.hit("warm-up")  # loads the script
    assert [limiter.hit("k") for _ in range(3)] == [0, 0, 1]
    time.sleep(0.25)  # 2.5 emission intervals of 100 ms: tokens back
    assert limiter.hit("k") == 0
    client.close()
