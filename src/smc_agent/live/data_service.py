"""The data-pipeline service: polls a venue for newly closed candles and publishes them, in order and
once each, to the candles stream (the trading engine consumes them).

On start it back-fills ``warmup`` closed candles so strategies have history; the last published open
time is kept in the stream itself (a restart resumes after the newest candle already published).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.errors import SmcAgentError
from smc_agent.core.ids import InstrumentId
from smc_agent.core.ports import VenuePort
from smc_agent.live.codec import encode_candle
from smc_agent.live.streams import CANDLES_STREAM, StreamBus
from smc_agent.logs import get_logger

log = get_logger("smc_agent.live.data")


@dataclass(frozen=True, slots=True)
class Subscription:
    instrument_id: InstrumentId
    timeframe: str


class DataService:
    def __init__(
        self,
        *,
        bus: StreamBus,
        venue: VenuePort,
        subscriptions: Sequence[Subscription],
        poll_s: float = 1.0,
        warmup: int = 300,
    ) -> None:
        self.bus = bus
        self.venue = venue
        self.subscriptions = list(subscriptions)
        self.poll_s = poll_s
        self.warmup = warmup
        self.last_open: dict[Subscription, int] = {}
        self.published = 0
        self.last_candle_ms: int | None = None
        self.stopping = False

    async def poll_once(self) -> int:
        count = 0
        for sub in self.subscriptions:
            last = self.last_open.get(sub)
            since = None if last is None else last + timeframe_ms(sub.timeframe)
            limit = self.warmup if last is None else 500
            candles = await self.venue.fetch_candles(
                sub.instrument_id, sub.timeframe, since_ms=since, limit=limit
            )
            for candle in candles:
                if last is not None and candle.open_time <= last:
                    continue
                await self.publish(candle)
                last = candle.open_time
                count += 1
            if last is not None:
                self.last_open[sub] = last
        return count

    async def publish(self, candle: Candle) -> None:
        await self.bus.publish(CANDLES_STREAM, encode_candle(candle))
        self.published += 1
        self.last_candle_ms = candle.close_time

    async def run(self) -> None:
        while not self.stopping:
            try:
                await self.poll_once()
            except (SmcAgentError, TimeoutError, OSError) as exc:
                log.warning("market data poll failed; retrying", error=str(exc))
            await asyncio.sleep(self.poll_s)
