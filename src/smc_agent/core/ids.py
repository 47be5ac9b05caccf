"""Identifiers. Every structure is keyed by instrument *and* venue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

ClientOrderId = NewType("ClientOrderId", str)
VenueOrderId = NewType("VenueOrderId", str)
TradeId = NewType("TradeId", str)
StrategyId = NewType("StrategyId", str)
BotId = NewType("BotId", str)

NO_STRATEGY = StrategyId("")


@dataclass(frozen=True, slots=True, order=True)
class InstrumentId:
    """An instrument on one venue, e.g. ``InstrumentId("binance", "BTC/USDT")``.

    ``str(iid)`` is ``"BTC/USDT@binance"``; :meth:`parse` reads it back.
    """

    venue: str
    symbol: str

    def __post_init__(self) -> None:
        if not self.venue or not self.symbol:
            raise ValueError(f"InstrumentId needs a venue and a symbol, got {self.venue!r}, {self.symbol!r}")
        if "@" in self.symbol or "@" in self.venue:
            raise ValueError(f"InstrumentId parts must not contain '@': {self.venue!r}, {self.symbol!r}")

    def __str__(self) -> str:
        return f"{self.symbol}@{self.venue}"

    @classmethod
    def parse(cls, text: str) -> InstrumentId:
        symbol, sep, venue = text.rpartition("@")
        if not sep:
            raise ValueError(f"expected 'SYMBOL@venue', got {text!r}")
        return cls(venue=venue, symbol=symbol)
