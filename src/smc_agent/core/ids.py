"""Identifiers. Every structure is keyed by instrument *and* venue."""

from __future__ import annotations

from typing import NamedTuple, NewType

ClientOrderId = NewType("ClientOrderId", str)
VenueOrderId = NewType("VenueOrderId", str)
TradeId = NewType("TradeId", str)
StrategyId = NewType("StrategyId", str)
BotId = NewType("BotId", str)

NO_STRATEGY = StrategyId("")


class _InstrumentKey(NamedTuple):
    venue: str
    symbol: str


class InstrumentId(_InstrumentKey):
    """An instrument on one venue, e.g. ``InstrumentId("binance", "BTC/USDT")``.

    A ``NamedTuple`` (fast to hash: it keys every per-instrument dict on the hot path); it compares
    equal to the plain tuple ``(venue, symbol)``. ``str(iid)`` is ``"BTC/USDT@binance"``;
    :meth:`parse` reads it back.
    """

    __slots__ = ()

    def __new__(cls, venue: str, symbol: str) -> InstrumentId:
        if not venue or not symbol:
            raise ValueError(f"InstrumentId needs a venue and a symbol, got {venue!r}, {symbol!r}")
        if "@" in symbol or "@" in venue:
            raise ValueError(f"InstrumentId parts must not contain '@': {venue!r}, {symbol!r}")
        return super().__new__(cls, venue, symbol)

    def __str__(self) -> str:
        return f"{self.symbol}@{self.venue}"

    @classmethod
    def parse(cls, text: str) -> InstrumentId:
        symbol, sep, venue = text.rpartition("@")
        if not sep:
            raise ValueError(f"expected 'SYMBOL@venue', got {text!r}")
        return cls(venue=venue, symbol=symbol)
