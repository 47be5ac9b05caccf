"""The playbook greps the trading engine's logs: ``kubectl logs -f deployment/trading-engine | grep -i
"trading resumed"`` after a release, ``... | grep -i failover`` after a venue failover. The trading
engine logged neither (only "trading state follows the control plane"); the lines came from the
execution engine and the data pipeline."""

from __future__ import annotations

import logging

import pytest

from smc_agent.control.failover import FailoverManager
from smc_agent.live.strategies import STRATEGIES
from smc_agent.live.streams import MemoryStreamBus
from smc_agent.live.trading_service import TradingService
from smc_agent.live.wiring import build_control
from tests.live.conftest import wait_for
from tests.live.test_restart_and_incidents import INSTRUMENT


async def test_trading_engine_logs_trading_resumed_and_failover(
    migrated_pg_url: str, redis_pair: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    control, repo = build_control(migrated_pg_url, redis_pair[0])
    failover = FailoverManager(kv=control.kv, journal=control.journal)
    service = TradingService(
        bus=MemoryStreamBus(),
        repo=repo,
        control=control,
        instruments=[INSTRUMENT],
        strategies=STRATEGIES,
        active_venue=failover.active_venue,
    )
    caplog.set_level(logging.INFO)

    def engine_lines(text: str) -> list[str]:  # the trading engine's own (the control facade says it too)
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == "smc_agent.live.trading" and text in r.getMessage()
        ]

    await service.start()
    try:
        control.halt(reason="drill", actor="ops", source="cli")
        await wait_for(lambda: service.engine.state.value == "halted", 5, "the engine halted")
        assert not engine_lines("trading resumed")
        control.request_release(reason="drill over", actor="ops", source="cli")
        control.complete_release([], actor="execution-engine")  # the execution engine's verification
        await wait_for(lambda: bool(engine_lines("trading resumed")), 5, "a 'trading resumed' line")
        assert not engine_lines("failover")
        failover.activate_failover("binance", "bybit", reason="binance errors", actor="ops", source="cli")
        await wait_for(lambda: bool(engine_lines("failover")), 5, "a failover line")
        assert "binance -> bybit" in engine_lines("failover")[0]
    finally:
        await service.stop()
