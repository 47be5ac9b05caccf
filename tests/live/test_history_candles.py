"""Candles the data pipeline marks history (its back-fill on start, a catch-up after an outage) reach
the strategies, but the entries they signal are refused: an hour-old signal went out as a market order."""

from __future__ import annotations

from smc_agent.core.candle import Candle
from smc_agent.core.events import OrderDenied
from smc_agent.core.ids import InstrumentId
from smc_agent.live.codec import decode, encode_candle
from smc_agent.live.strategies import STRATEGIES
from smc_agent.live.streams import ORDERS_STREAM, MemoryStreamBus
from smc_agent.live.trading_service import TradingService
from smc_agent.live.wiring import build_control
from tests.live.test_restart_and_incidents import INSTRUMENT

T0 = 1_800_000_000_000
BTC = InstrumentId("binance", "BTC/USDT")


async def test_entries_signalled_by_back_filled_candles_are_refused(migrated_sqlite_url: str) -> None:
    control, repo = build_control(migrated_sqlite_url, None)
    service = TradingService(
        bus=MemoryStreamBus(), repo=repo, control=control, instruments=[INSTRUMENT], strategies=STRATEGIES
    )
    drill = STRATEGIES["drill"]({"qty": 0.001, "every": 1})  # an order on every candle
    service.engine.add_strategy(drill, instrument_id=BTC, timeframe="1m", strategy_id="bot_drill")
    drill.on_start()
    service.engine.start()
    denied: list[OrderDenied] = []
    service.engine.bus.subscribe(OrderDenied, denied.append)  # type: ignore[arg-type]
    for i, history in enumerate([True, True, False]):  # a back-fill of three: the last one is live
        candle = Candle("binance", "BTC/USDT", "1m", T0 + i * 60_000, 100.0, 101.0, 99.0, 100.0, 5.0)
        await service._candle_entry(encode_candle(candle, history=history))
    assert service.candles_seen == 3  # the strategy saw all three
    assert [d.check for d in denied] == ["history", "history"]
    commands = [decode(fields) for _, fields in service.bus.streams[ORDERS_STREAM]]  # type: ignore[attr-defined]
    assert len(commands) == 1 and service.engine.replaying is None
