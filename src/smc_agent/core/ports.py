"""Ports: the Protocols through which pure layers reach the world.

Implemented by: the simulated venue (backtest), the paper venue, the ccxt gateways (venues team),
candle stores (marketdata), SQL stores (store), in-process / Redis buses.
All venue methods raise errors from :mod:`smc_agent.core.errors` only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from smc_agent.core.candle import Candle
from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus, OrderType
from smc_agent.core.events import Event
from smc_agent.core.fill import Fill
from smc_agent.core.ids import ClientOrderId, InstrumentId, VenueOrderId
from smc_agent.core.instrument import Instrument
from smc_agent.core.order import Order


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    total: Decimal
    free: Decimal

    @property
    def locked(self) -> Decimal:
        return self.total - self.free


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What a venue says about one of our orders (the execution layer reconciles against it)."""

    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId
    side: OrderSide
    order_type: OrderType
    status: OrderStatus
    qty: Decimal
    filled_qty: Decimal
    price: Decimal | None
    avg_fill_price: Decimal | None
    ts_event: int
    # the fees of all its fills so far, in the currency charged; ``None``: not known from this report
    # (a venue's order report does not carry them: the execution engine asks for the order's trades)
    fee: Decimal | None = None
    fee_currency: str = ""


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    """What one trade-history request of a venue covers at most: a time range ``window_ms`` wide
    (both ends inclusive) and ``page`` fills; a full page may hold back more."""

    window_ms: int
    page: int


@runtime_checkable
class VenuePort(Protocol):
    """A trading venue. ``venue`` is its name (``"binance"``, ``"bybit"``, ``"sim"``, ``"paper"``).

    ``submit_order`` must be idempotent on ``client_order_id``: submitting an id the venue already
    knows returns the existing order's report instead of creating a second order.
    """

    @property
    def venue(self) -> str: ...

    async def load_instruments(self) -> Sequence[Instrument]: ...

    async def fetch_balances(self) -> Sequence[Balance]: ...

    async def submit_order(self, command: SubmitOrder) -> OrderReport: ...

    async def cancel_order(
        self,
        instrument_id: InstrumentId,
        *,
        client_order_id: ClientOrderId | None = None,
        venue_order_id: VenueOrderId | None = None,
    ) -> OrderReport: ...

    async def fetch_order(
        self,
        instrument_id: InstrumentId,
        *,
        client_order_id: ClientOrderId | None = None,
        venue_order_id: VenueOrderId | None = None,
    ) -> OrderReport: ...

    async def fetch_open_orders(self, instrument_id: InstrumentId | None = None) -> Sequence[OrderReport]: ...

    @property
    def history_limits(self) -> HistoryLimits: ...

    async def fetch_fills(
        self,
        instrument_id: InstrumentId,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Fill]:
        """One request of the venue's trade history: ``since_ms..until_ms`` (inclusive) must lie within
        ``history_limits.window_ms`` and ``limit`` within ``history_limits.page``."""
        ...

    async def fetch_order_fills(
        self, instrument_id: InstrumentId, venue_order_id: VenueOrderId
    ) -> Sequence[Fill]: ...

    async def fetch_candles(
        self,
        instrument_id: InstrumentId,
        timeframe: str,
        *,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Candle]: ...


@runtime_checkable
class MarketDataPort(Protocol):
    """Source of closed candles (history from a store or venue; live from a feed)."""

    async def history(
        self, instrument_id: InstrumentId, timeframe: str, *, start_ms: int, end_ms: int
    ) -> Sequence[Candle]: ...

    async def latest(self, instrument_id: InstrumentId, timeframe: str) -> Candle | None: ...


@runtime_checkable
class OrderStorePort(Protocol):
    """Persistence of orders, fills and risk denials. Implementations never commit on their own
    behalf beyond what a call describes; the caller owns the transaction when there is one."""

    async def save_order(self, order: Order) -> None: ...

    async def get_order(self, client_order_id: ClientOrderId) -> Order | None: ...

    async def open_orders(self, instrument_id: InstrumentId | None = None) -> Sequence[Order]: ...

    async def save_fill(self, fill: Fill) -> None: ...

    async def save_event(self, event: Event) -> None: ...


EventHandler = Callable[[Event], None]


@runtime_checkable
class EventBusPort(Protocol):
    """Publish/subscribe of events by type (subscribing to ``Event`` receives everything)."""

    def publish(self, event: Event) -> None: ...

    def subscribe(self, event_type: type[Event], handler: EventHandler) -> None: ...
