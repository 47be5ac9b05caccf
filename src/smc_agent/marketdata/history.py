"""``MarketDataPort`` (core.ports) over a :class:`CandleStore`: history and latest closed candle."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.ids import InstrumentId
from smc_agent.marketdata.store import CandleStore


class StoredMarketData:
    def __init__(self, store: CandleStore) -> None:
        self.store = store

    async def history(
        self, instrument_id: InstrumentId, timeframe: str, *, start_ms: int, end_ms: int
    ) -> Sequence[Candle]:
        return await asyncio.to_thread(
            self.store.get,
            instrument_id.venue,
            instrument_id.symbol,
            timeframe,
            start_ms=start_ms,
            end_ms=end_ms,
        )

    async def latest(self, instrument_id: InstrumentId, timeframe: str) -> Candle | None:
        last = await asyncio.to_thread(
            self.store.latest_open_time, instrument_id.venue, instrument_id.symbol, timeframe
        )
        if last is None:
            return None
        rows = await self.history(
            instrument_id, timeframe, start_ms=last, end_ms=last + timeframe_ms(timeframe)
        )
        return rows[-1] if rows else None
