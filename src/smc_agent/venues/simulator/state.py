"""Shared state of one simulator instance: feeds, market clock, account book, faults, keys."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from smc_agent.venues.simulator.book import Book
from smc_agent.venues.simulator.faults import Faults
from smc_agent.venues.simulator.feed import Bar, Feed, SymbolSpec, spec_for

DEFAULT_API_KEY = "sim-api-key"
DEFAULT_API_SECRET = "sim-api-secret"  # noqa: S105 - loopback simulator credential, not a secret


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How a simulator instance starts.

    ``start_index`` candles of the first feed are already closed at start (history to query).
    ``speed`` > 0 advances the market clock in the background at ``speed`` x real time; 0 means the
    clock only moves when stepped. ``restamp`` shifts all timestamps so that the first forming candle
    is the current wall-clock candle (or ``anchor_ms`` when given).
    """

    venue: str
    feeds: tuple[Feed, ...]
    start_index: int = 500
    speed: float = 0.0
    restamp: bool = True
    anchor_ms: int | None = None
    balances: tuple[tuple[str, Decimal], ...] = (("USDT", Decimal(100_000)), ("BTC", Decimal(1)))
    fee_rate: Decimal = Decimal("0.001")
    participation: Decimal | None = None  # resting orders fill at most this share of a candle's volume
    # Bybit: a Unified Trading Account; False: a classic account, whose spot market buys take their
    # quantity in the quote coin (ccxt sends the base quantity there unchanged)
    unified_account: bool = True
    api_keys: tuple[tuple[str, str], ...] = ((DEFAULT_API_KEY, DEFAULT_API_SECRET),)
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.venue not in ("binance", "bybit"):
            raise ValueError(f"unknown venue {self.venue!r}: expected binance or bybit")
        if not self.feeds:
            raise ValueError("the simulator needs at least one candle feed")


@dataclass
class SimState:
    """Everything the route handlers share."""

    config: SimulatorConfig
    feeds: dict[str, Feed]
    specs: dict[str, SymbolSpec]
    book: Book
    faults: Faults = field(default_factory=Faults)
    data_now: int = 0
    offset_ms: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    request_log: list[tuple[float, str]] = field(default_factory=list)
    bar_listeners: list[Callable[[Feed, Bar, bool], None]] = field(default_factory=list)

    @classmethod
    def build(cls, config: SimulatorConfig) -> SimState:
        feeds = {f.symbol: f for f in config.feeds}
        specs = {sym: spec_for(sym) for sym in feeds}
        book = Book(specs, dict(config.balances), config.fee_rate, config.participation)
        first = config.feeds[0]
        start = first.bars[min(config.start_index, len(first.bars) - 1)].open_time
        offset = 0
        if config.anchor_ms is not None:
            offset = config.anchor_ms - start
        elif config.restamp:
            offset = (wall_ms() // first.tf_ms) * first.tf_ms - start
        return cls(config=config, feeds=feeds, specs=specs, book=book, data_now=start, offset_ms=offset)

    # -- time -----------------------------------------------------------------------------------
    @property
    def market_now(self) -> int:
        """The market clock in visible (re-stamped) milliseconds."""
        return self.data_now + self.offset_ms

    def to_data(self, visible_ms: int) -> int:
        return visible_ms - self.offset_ms

    def to_visible(self, data_ms: int) -> int:
        return data_ms + self.offset_ms

    @property
    def base_tf_ms(self) -> int:
        return self.config.feeds[0].tf_ms

    def advance(self, delta_ms: int) -> int:
        """Move the market clock forward, trigger stops, fill resting orders, notify candle listeners.

        Returns the number of base-feed candles that closed. A stale fault freezes the clock.
        """
        if self.faults.stale or delta_ms <= 0:
            return 0
        t0, t1 = self.data_now, self.data_now + delta_ms
        self.data_now = t1
        closed_base = 0
        for feed in self.feeds.values():
            closed = feed.closed_between(t0, t1)
            if feed is self.config.feeds[0]:
                closed_base = len(closed)
            self.book.on_closed_bars(feed.symbol, closed, wall_ms())
            if any(o.waiting_trigger for o in self.book.open_orders(feed.symbol)):
                self.book.on_price(feed.symbol, feed.last_price(t1), wall_ms())  # the forming candle
            for bar in closed:
                for listener in self.bar_listeners:
                    listener(feed, bar, True)
        return closed_base

    def last_price(self, symbol: str) -> Decimal:
        return self.feeds[symbol].last_price(self.data_now)

    def record(self, path: str) -> None:
        self.requests[path] += 1
        self.request_log.append((time.monotonic(), path))
