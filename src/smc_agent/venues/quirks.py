"""Per-venue differences as data: ccxt id and options, order types, time in force, precision."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class VenueQuirks:
    name: str
    ccxt_id: str
    ccxt_options: MappingProxyType[str, Any]
    order_types: frozenset[str]
    time_in_force: frozenset[str]
    fetch_order_params: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    max_ohlcv_limit: int = 1000
    client_id_param: str = "clientOrderId"
    precision_mode: str = "tick_size"


QUIRKS: dict[str, VenueQuirks] = {
    "binance": VenueQuirks(
        name="binance",
        ccxt_id="binance",
        ccxt_options=MappingProxyType(
            {
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
                "defaultType": "spot",
            }
        ),
        order_types=frozenset({"market", "limit"}),
        time_in_force=frozenset({"GTC", "IOC", "FOK"}),
        max_ohlcv_limit=1000,
    ),
    "bybit": VenueQuirks(
        name="bybit",
        ccxt_id="bybit",
        ccxt_options=MappingProxyType(
            {
                "fetchMarkets": {"types": ["spot"]},
                "defaultType": "spot",
            }
        ),
        order_types=frozenset({"market", "limit"}),
        time_in_force=frozenset({"GTC", "IOC", "FOK", "PostOnly"}),
        fetch_order_params=MappingProxyType({"acknowledged": True}),
        max_ohlcv_limit=1000,
    ),
}
