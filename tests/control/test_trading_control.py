"""The halt contract of DESIGN.md §4, against the real Redis and against the embedded store."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import redis

from smc_agent.bootstrap import Container
from smc_agent.control.redis_kv import RedisKeyValueStore
from smc_agent.control.trading import HALT_KEY, TradingControl
from smc_agent.core.enums import TradingState
from smc_agent.settings import Settings
from smc_agent.store import migrate


@pytest.fixture(params=["redis", "embedded"])
def container(request: pytest.FixtureRequest, migrated_sqlite_url: str, tmp_path) -> Iterator[Container]:  # type: ignore[no-untyped-def]
    redis_url = request.getfixturevalue("redis_pair")[0] if request.param == "redis" else None
    c = Container(Settings(data_dir=tmp_path, database_url=migrated_sqlite_url, redis_url=redis_url))
    yield c
    c.close()


def _ok() -> str | None:
    return None


def test_set_key_halts_and_latches(container: Container) -> None:
    control = container.trading_control
    assert control.observe().state is TradingState.ACTIVE
    container.kv.set(HALT_KEY, "true")
    snap = control.observe()
    assert snap.state is TradingState.HALTED and snap.latch is not None
    assert container.journal.read_latch() is not None


def test_expiry_keeps_trading_halted_and_alerts(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    control = container.trading_control
    container.kv.set(HALT_KEY, "true", ttl_s=0.6)
    assert control.observe().state is TradingState.HALTED
    time.sleep(0.9)
    with caplog.at_level(logging.ERROR):
        snap = control.observe()
    assert snap.state is TradingState.HALTED
    assert snap.latch is not None and snap.latch.status == "key_expired"
    assert "expired" in caplog.text and "stays halted" in caplog.text
    # a release check does nothing while no release was requested
    assert control.complete_release([("ok", _ok)], actor="test").state is TradingState.HALTED
    # the key is set again, without expiry: the playbook's DEL (step 7, after the hour) still releases
    # (it deleted nothing: trading stayed halted with no way to release it but `smc-agent resume`)
    assert container.kv.get(HALT_KEY) == "true" and container.kv.ttl(HALT_KEY) is None
    assert control.observe().latch.status == "key_expired"  # type: ignore[union-attr]
    container.kv.delete(HALT_KEY)
    snap = control.observe()
    assert snap.state is TradingState.HALTED and snap.latch is not None
    assert snap.latch.status == "release_requested"
    assert control.complete_release([("ok", _ok)], actor="engine").state is TradingState.ACTIVE


def test_delete_is_a_release_that_needs_verification(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    control = container.trading_control
    container.kv.set(HALT_KEY, "true", ttl_s=3600)
    control.observe()
    container.kv.delete(HALT_KEY)
    snap = control.observe()
    assert snap.state is TradingState.HALTED and snap.latch is not None
    assert snap.latch.status == "release_requested"
    # a failing check keeps trading halted and says why
    snap = control.complete_release([("venue", lambda: "binance unreachable")], actor="engine")
    assert snap.state is TradingState.HALTED and "binance unreachable" in snap.reason
    # the failed release is not retried silently: a new release request is needed
    assert control.complete_release([("venue", _ok)], actor="engine").state is TradingState.HALTED
    control.request_release(reason="venue back", actor="ops", source="test")
    with caplog.at_level(logging.INFO):
        snap = control.complete_release([("venue", _ok)], actor="engine")
    assert snap.state is TradingState.ACTIVE
    assert "trading resumed" in caplog.text


def test_halt_and_resume_are_audited(container: Container) -> None:
    from sqlalchemy import select

    from smc_agent.store.models import TradingStateEvent

    control = container.trading_control
    control.halt(reason="fat finger", actor="alice", source="cli")
    assert control.observe().state is TradingState.HALTED
    control.request_release(reason="checked", actor="alice", source="cli")
    control.complete_release([("db", _ok)], actor="engine")
    with container.session_factory() as s:
        events = s.scalars(select(TradingStateEvent).order_by(TradingStateEvent.created_at)).all()
    assert [(e.state, e.actor, e.reason) for e in events] == [
        ("halted", "alice", "fat finger"),
        ("active", "alice", "checked"),
    ]
    assert events[0].source.startswith("cli@")


def test_breaker_state_reducing(container: Container) -> None:
    control = container.trading_control
    control.set_breaker_state(TradingState.REDUCING, reason="daily loss 3.1% > 3%", actor="risk")
    snap = control.observe()
    assert snap.state is TradingState.REDUCING and "daily loss" in snap.reason
    control.set_breaker_state(TradingState.ACTIVE, reason="new day", actor="risk")
    assert control.observe().state is TradingState.ACTIVE


def test_unreachable_redis_means_halted(migrated_sqlite_url: str) -> None:
    container = Container(Settings(database_url=migrated_sqlite_url, redis_url="redis://127.0.0.1:1/0"))
    snap = container.trading_control.observe()
    assert snap.state is TradingState.HALTED
    assert not snap.store_ok and "unreachable" in snap.reason


@pytest.mark.redis
def test_playbook_commands_verbatim(
    playbook_redis: tuple[str, str], migrated_sqlite_url: str, caplog
) -> None:  # type: ignore[no-untyped-def]
    """The playbook's redis-py lines (db 0, default port) drive the same state machine."""
    kv = RedisKeyValueStore(playbook_redis[0])
    container = Container(Settings(database_url=migrated_sqlite_url, redis_url=playbook_redis[0]))
    control = TradingControl(kv=kv, journal=container.journal)
    r = redis.Redis(host="127.0.0.1", port=6379)
    r.set("emergency_halt", "true")
    r.expire("emergency_halt", 3600)  # 1 hour expiry
    assert control.observe().state is TradingState.HALTED
    r.delete("emergency_halt")
    assert control.observe().latch.status == "release_requested"  # type: ignore[union-attr]
    with caplog.at_level(logging.INFO):
        assert control.complete_release([("db", _ok)], actor="engine").state is TradingState.ACTIVE
    assert "trading resumed" in caplog.text.lower()
    migrate  # imported for the fixture chain  # noqa: B018


def test_latch_without_a_seen_key_reasserts_instead_of_releasing(container: Container) -> None:
    """A halt being written (latch first, key next) or written while the store was down must never be read
    as a deleted key, i.e. as a release request."""
    from smc_agent.core.control import HaltLatch

    control = container.trading_control
    container.journal.write_latch(
        HaltLatch(reason="store was down", actor="gateway", source="fail-closed", since_ms=1)
    )
    snap = control.observe()
    assert snap.state is TradingState.HALTED
    assert snap.latch is not None and snap.latch.status == "halted"
    assert container.kv.get(HALT_KEY) == "true"  # re-asserted from the latch
    snap = control.observe()
    assert snap.latch is not None and snap.latch.key_seen
    container.kv.delete(HALT_KEY)  # now a deletion is a real release request
    assert control.observe().latch.status == "release_requested"  # type: ignore[union-attr]


def test_halt_with_store_down_stays_halted_when_store_returns(migrated_sqlite_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from smc_agent.store.control_repo import DbKeyValueStore

    down = Container(
        Settings(data_dir=tmp_path, database_url=migrated_sqlite_url, redis_url="redis://127.0.0.1:1/0")
    )
    snap = down.trading_control.halt(reason="venue on fire", actor="ops", source="cli")
    assert snap.state is TradingState.HALTED and not snap.store_ok
    # the store "comes back": same database, a store that answers
    back = TradingControl(kv=DbKeyValueStore(down.session_factory), journal=down.journal)
    for _ in range(3):
        snap = back.observe()
        assert snap.state is TradingState.HALTED and "venue on fire" in snap.reason
    assert snap.latch is not None and snap.latch.status == "halted"


class _HaltDuringFirstKeyRead:
    """Wraps the key store: the observer's first read of the key returns what it saw, then a full
    ``halt`` by another process runs before the observer goes on to read the latch (the interleaving
    that once turned an operator's halt into 'emergency_halt set on embedded')."""

    def __init__(self, kv, other: TradingControl) -> None:  # type: ignore[no-untyped-def]
        self._kv, self._other, self._armed = kv, other, True
        self.name = kv.name

    def get(self, key: str) -> str | None:
        value = self._kv.get(key)
        if self._armed and key == HALT_KEY:
            self._armed = False
            self._other.halt(reason="playbook drill", actor="ops", source="cli")
        return value

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._kv, name)


def test_observer_racing_a_halt_keeps_the_operators_reason(container: Container) -> None:
    operator = TradingControl(kv=container.kv, journal=container.journal)
    watcher = TradingControl(kv=_HaltDuringFirstKeyRead(container.kv, operator), journal=container.journal)  # type: ignore[arg-type]
    snap = watcher.observe()
    assert snap.state is TradingState.HALTED and "playbook drill" in snap.reason
    latch = container.journal.read_latch()
    assert latch is not None and latch.status == "halted" and latch.reason == "playbook drill"
    assert operator.observe().reason.startswith("halted by ops: playbook drill")


def test_resume_verification_racing_a_new_halt_does_not_resume(container: Container) -> None:
    control = container.trading_control
    control.halt(reason="first", actor="ops", source="cli")
    control.request_release(reason="all clear", actor="ops", source="cli")

    def halt_again_during_check() -> str | None:  # another operator halts while we verify
        TradingControl(kv=container.kv, journal=container.journal).halt(
            reason="second", actor="ops2", source="cli"
        )
        return None

    snap = control.complete_release([("db", halt_again_during_check)], actor="engine")
    assert snap.state is TradingState.HALTED and "second" in snap.reason
    with container.engine.connect() as conn:
        states = [r[0] for r in conn.exec_driver_sql("SELECT state FROM trading_state_events").all()]
    assert "active" not in states  # no resume was recorded


@pytest.mark.redis
def test_halt_with_the_database_down_sets_the_key_and_is_latched_when_it_returns(
    redis_pair: tuple[str, str],
    migrated_sqlite_url: str,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    # the latch was written first and its error ended the halt: with the database unreachable,
    # `smc-agent halt` printed a traceback and emergency_halt was never set; nothing was halted
    from typer.testing import CliRunner

    from smc_agent.cli.main import app

    kv = RedisKeyValueStore(redis_pair[0])
    down = Container(Settings(data_dir=tmp_path, database_url="postgresql+psycopg://postgres@127.0.0.1:1/x"))
    snap = TradingControl(kv=kv, journal=down.journal).halt(reason="venue on fire", actor="ops", source="cli")
    assert snap.state is TradingState.HALTED and snap.halt_key_present and snap.latch is None
    assert "venue on fire" in snap.reason and "the database did not answer" in snap.reason
    assert kv.get(HALT_KEY) == "true"
    # the database back: the first observer latches the key it finds
    up = Container(Settings(data_dir=tmp_path, database_url=migrated_sqlite_url))
    back = TradingControl(kv=kv, journal=up.journal).observe()
    assert back.state is TradingState.HALTED and back.latch is not None and back.latch.status == "halted"
    kv.delete(HALT_KEY)
    # the CLI: the same halt, one line, exit 0; and both stores down is "NOT halted", exit 1
    env = {"SMC_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/x", "SMC_REDIS_URL": redis_pair[0]}
    result = CliRunner().invoke(app, ["halt", "--reason", "drill"], env=env)
    assert result.exit_code == 0, result.output
    assert kv.get(HALT_KEY) == "true" and "trading halted" in result.output
    both = CliRunner().invoke(
        app, ["halt", "--reason", "drill"], env={**env, "SMC_REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    assert both.exit_code == 1 and "NOT halted" in both.output and "Traceback" not in both.output
    blank = CliRunner().invoke(app, ["halt", "--reason", " "], env=env)
    assert blank.exit_code == 2 and "a halt needs a reason" in blank.output
    down.close()
    up.close()


def test_a_store_that_lost_its_data_is_not_a_release(
    redis_pair: tuple[str, str],
    migrated_sqlite_url: str,
    tmp_path,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    # a Redis restarted without persistence (or flushed) lost emergency_halt: that read as an
    # operator's DEL, and trading resumed by itself; the failover and a tripped breaker went with it
    from smc_agent.control.failover import FAILOVER_KEY
    from smc_agent.control.trading import BREAKER_KEY

    url = redis_pair[0]
    c = Container(Settings(data_dir=tmp_path, database_url=migrated_sqlite_url, redis_url=url))
    try:
        control, kv = c.trading_control, c.kv
        control.set_breaker_state(TradingState.REDUCING, reason="daily loss limit", actor="risk")
        c.failover.activate_failover("binance", "bybit", reason="binance down")
        kv.set(HALT_KEY, "true", ttl_s=3600)
        assert control.observe().state is TradingState.HALTED
        redis.Redis.from_url(url).flushdb()  # the store's data is gone, the database remembers it
        assert c.failover.active_venue() == "bybit", "routing must not fall back to the primary"
        with caplog.at_level(logging.ERROR):
            snap = control.observe()
        assert snap.state is TradingState.HALTED and snap.latch is not None and snap.latch.status == "halted"
        assert "lost its data" in caplog.text
        assert kv.get(HALT_KEY) == "true" and 3590 < (kv.ttl(HALT_KEY) or 0) <= 3600  # its expiry kept
        assert kv.get(FAILOVER_KEY) is not None and c.failover.status()["failover_active"]
        assert kv.get(BREAKER_KEY) is not None and "daily loss limit" in str(kv.get(BREAKER_KEY))
        assert control.observe().latch.status == "halted"  # type: ignore[union-attr]
        kv.delete(HALT_KEY)  # an operator's DEL is still a release
        assert control.observe().latch.status == "release_requested"  # type: ignore[union-attr]
    finally:
        c.close()
