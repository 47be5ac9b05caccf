"""The simulated venue behind the async :class:`~smc_agent.core.ports.VenuePort` (paper trading and
tests that talk to "a venue"): same matching rules, fed candles through :meth:`on_candle`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from smc_agent.backtest.sim_venue import SimulatedVenue
from smc_agent.core.candle import Candle
from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.enums import OrderStatus
from smc_agent.core.errors import InvalidOrder, OrderNotFound
from smc_agent.core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
)
from smc_agent.core.fill import Fill
from smc_agent.core.ids import NO_STRATEGY, ClientOrderId, InstrumentId, VenueOrderId
from smc_agent.core.instrument import Instrument
from smc_agent.core.money import ZERO
from smc_agent.core.ports import Balance, EventHandler, HistoryLimits, OrderReport


def _ignore(event: Event) -> None:
    """Default downstream sink."""


class SimulatedVenuePort:
    def __init__(self, sim: SimulatedVenue, *, name: str = "sim", downstream: EventHandler = _ignore) -> None:
        self.sim = sim
        self._name = name
        self.downstream = downstream
        self.reports: dict[ClientOrderId, OrderReport] = {}
        self.fills: list[Fill] = []
        self.candles: dict[tuple[InstrumentId, str], list[Candle]] = {}
        self._rejections: dict[ClientOrderId, str] = {}
        sim.connect(self._on_event)

    @property
    def venue(self) -> str:
        return self._name

    def on_candle(self, candle: Candle) -> None:
        self.candles.setdefault((InstrumentId(candle.venue, candle.symbol), candle.timeframe), []).append(
            candle
        )
        self.sim.on_candle(candle)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, OrderFilled):
            old = self.reports[event.client_order_id]
            filled = old.filled_qty + event.qty
            avg = ((old.avg_fill_price or ZERO) * old.filled_qty + event.price * event.qty) / filled
            status = OrderStatus.FILLED if filled == old.qty else OrderStatus.PARTIALLY_FILLED
            self.reports[event.client_order_id] = replace(
                old, filled_qty=filled, avg_fill_price=avg, status=status, ts_event=event.ts_event
            )
            self.fills.append(
                Fill(
                    instrument_id=event.instrument_id,
                    client_order_id=event.client_order_id,
                    venue_order_id=event.venue_order_id,
                    trade_id=event.trade_id,
                    side=event.side,
                    qty=event.qty,
                    price=event.price,
                    fee=event.fee,
                    fee_currency=event.fee_currency,
                    liquidity=event.liquidity,
                    ts_event=event.ts_event,
                    market_price=event.market_price,
                )
            )
        elif isinstance(event, OrderCanceled | OrderTriggered) and event.client_order_id in self.reports:
            status = OrderStatus.CANCELED if isinstance(event, OrderCanceled) else OrderStatus.TRIGGERED
            self.reports[event.client_order_id] = replace(
                self.reports[event.client_order_id], status=status, ts_event=event.ts_event
            )
        elif isinstance(event, OrderAccepted) and event.client_order_id in self.reports:
            self.reports[event.client_order_id] = replace(
                self.reports[event.client_order_id],
                status=OrderStatus.ACCEPTED,
                venue_order_id=event.venue_order_id or VenueOrderId(""),
            )
        elif isinstance(event, OrderRejected):
            self._rejections[event.client_order_id] = event.reason
            self.reports.pop(event.client_order_id, None)
        self.downstream(event)

    # ------------------------------------------------------------------ VenuePort
    async def load_instruments(self) -> Sequence[Instrument]:
        return list(self.sim.instruments.values())

    async def fetch_balances(self) -> Sequence[Balance]:
        equity = self.sim.equity()
        return [Balance(self.sim.quote_currency, total=equity, free=self.sim.cash)]

    async def submit_order(self, command: SubmitOrder) -> OrderReport:
        cid = command.client_order_id
        if cid in self._rejections:
            raise InvalidOrder(f"{cid} was rejected: {self._rejections[cid]}")
        existing = self.reports.get(cid)
        if existing is not None:
            return existing  # idempotent on the client order id
        self.reports[cid] = OrderReport(
            instrument_id=command.instrument_id,
            client_order_id=cid,
            venue_order_id=VenueOrderId(""),
            side=command.side,
            order_type=command.order_type,
            status=OrderStatus.SUBMITTED,
            qty=command.qty,
            filled_qty=ZERO,
            price=command.price,
            avg_fill_price=None,
            ts_event=self.sim.clock.timestamp_ms(),
        )
        self.sim.submit(command)
        if cid in self._rejections:
            raise InvalidOrder(self._rejections[cid])
        return self.reports[cid]

    def _find(
        self, client_order_id: ClientOrderId | None, venue_order_id: VenueOrderId | None
    ) -> OrderReport:
        for report in self.reports.values():
            if (client_order_id and report.client_order_id == client_order_id) or (
                venue_order_id and report.venue_order_id == venue_order_id
            ):
                return report
        raise OrderNotFound(f"no order client_order_id={client_order_id} venue_order_id={venue_order_id}")

    async def cancel_order(
        self,
        instrument_id: InstrumentId,
        *,
        client_order_id: ClientOrderId | None = None,
        venue_order_id: VenueOrderId | None = None,
    ) -> OrderReport:
        report = self._find(client_order_id, venue_order_id)
        if report.status.is_open:
            now = self.sim.clock.timestamp_ms()
            self.sim.cancel(
                CancelOrder(
                    ts_event=now,
                    ts_init=now,
                    strategy_id=NO_STRATEGY,
                    instrument_id=instrument_id,
                    client_order_id=report.client_order_id,
                )
            )
        return self.reports[report.client_order_id]

    async def fetch_order(
        self,
        instrument_id: InstrumentId,
        *,
        client_order_id: ClientOrderId | None = None,
        venue_order_id: VenueOrderId | None = None,
    ) -> OrderReport:
        return self._find(client_order_id, venue_order_id)

    async def fetch_open_orders(self, instrument_id: InstrumentId | None = None) -> Sequence[OrderReport]:
        return [
            r
            for r in self.reports.values()
            if r.status.is_open and (instrument_id is None or r.instrument_id == instrument_id)
        ]

    @property
    def history_limits(self) -> HistoryLimits:
        return HistoryLimits(window_ms=2**62, page=2**31)  # all of it in one request

    async def fetch_fills(
        self,
        instrument_id: InstrumentId,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Fill]:
        out = [
            f
            for f in self.fills
            if f.instrument_id == instrument_id
            and (since_ms is None or f.ts_event >= since_ms)
            and (until_ms is None or f.ts_event <= until_ms)
        ]
        return out[:limit] if limit is not None else out

    async def fetch_order_fills(
        self, instrument_id: InstrumentId, venue_order_id: VenueOrderId
    ) -> Sequence[Fill]:
        return [f for f in self.fills if f.venue_order_id == venue_order_id]

    async def fetch_candles(
        self,
        instrument_id: InstrumentId,
        timeframe: str,
        *,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Candle]:
        out = [
            c
            for c in self.candles.get((instrument_id, timeframe), [])
            if since_ms is None or c.open_time >= since_ms
        ]
        return out[:limit] if limit is not None else out
