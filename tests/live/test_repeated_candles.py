"""A restarted data pipeline back-fills candles the trading engine has already seen: each strategy
sees each candle once (no doubled indicator state, no second signal)."""

from __future__ import annotations

from smc_agent.core.candle import Candle
from smc_agent.core.ids import InstrumentId
from smc_agent.live.codec import decode
from smc_agent.live.strategies import STRATEGIES
from smc_agent.live.streams import ORDERS_STREAM, MemoryStreamBus
from smc_agent.live.trading_service import TradingService
from smc_agent.live.wiring import build_control
from tests.live.test_restart_and_incidents import INSTRUMENT


def _candle(i: int) -> Candle:
    return Candle("binance", "BTC/USDT", "1m", 1_800_000_000_000 + i * 60_000, 100.0, 101.0, 99.0, 100.5, 3.0)


async def test_repeated_candles_reach_the_strategies_once(migrated_sqlite_url: str) -> None:
    control, repo = build_control(migrated_sqlite_url, None)
    bus = MemoryStreamBus()
    service = TradingService(
        bus=bus, repo=repo, control=control, instruments=[INSTRUMENT], strategies=STRATEGIES
    )
    drill = STRATEGIES["drill"]({"qty": 0.001, "every": 1})
    service.engine.add_strategy(
        drill, instrument_id=InstrumentId("binance", "BTC/USDT"), timeframe="1m", strategy_id="bot_drill"
    )
    drill.on_start()
    service.engine.start()
    for i in (0, 1, 2, 0, 1, 2, 3):  # 0..2 again: the pipeline restarted and back-filled
        await service.on_candle(_candle(i))
    assert (service.candles_seen, service.candles_repeated) == (4, 3)
    commands = [decode(fields) for _, fields in bus.streams[ORDERS_STREAM]]
    assert [c.side.value for c in commands] == ["buy", "sell", "buy", "sell"]  # type: ignore[union-attr]
    assert len({c.client_order_id for c in commands}) == 4  # type: ignore[union-attr]
