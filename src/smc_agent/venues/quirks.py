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
    time_in_force: MappingProxyType[str, str]  # core TimeInForce value -> ccxt timeInForce
    fetch_order_params: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    max_ohlcv_limit: int = 1000
    client_id_param: str = "clientOrderId"  # ccxt's unified param on create
    client_id_lookup_param: str = "origClientOrderId"  # venue param to find an order by our id
    create_returns_full_order: bool = True  # else the gateway fetches the order after create
    cancel_returns_full_order: bool = True
    lookup_by_client_id_via_open_orders: bool = False  # the order-list endpoint finds any status by our id
    # dead-man switch: ccxt implicit method, its window parameter and unit (ms per unit), per-symbol or not
    dead_man_method: str | None = None
    dead_man_window_param: str = ""
    dead_man_window_unit_ms: int = 1
    dead_man_per_symbol: bool = False
    dead_man_extra: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # stop orders: ccxt's unified trigger param on create (Binance spot -> STOP_LOSS[_LIMIT] + stopPrice,
    # Bybit spot -> orderFilter=StopOrder + triggerPrice), and the params that address a conditional
    # order on cancel (Bybit spot cancels only plain orders unless told orderFilter=StopOrder)
    trigger_price_param: str = "triggerPrice"
    cancel_stop_params: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # a conditional order holds no coins until it triggers (Bybit spot), while a resting limit holds them
    # from placement: a take-profit resting as a limit would leave the stop-loss unfunded when it
    # triggers. Take-profits then rest as conditional market orders at their price.
    conditional_take_profit: bool = False
    # the venue reads a conditional order's direction from the side of the market its trigger lies on
    # (Bybit spot): a sell stop placed above the market (the price already fell through it) would wait
    # for the price to rise to it, a stop no more. Such a stop is refused before it is sent.
    trigger_direction_inferred: bool = False
    # an OCO order list (Binance spot ``POST /api/v3/orderList/oco``): a position's stop-loss and
    # take-profit share the coins they would sell, and the venue expires one when the other executes
    native_oco: bool = False
    # orders need a unified account (Bybit's Unified Trading Account): on a classic account a spot market
    # buy's quantity is in the quote coin (ccxt sends ``marketUnit=baseCoin`` on a unified account only,
    # so 0.5 BTC would go out as 0.5 USDT) and ccxt cannot fetch a spot order to learn its outcome.
    # Orders on such an account are refused before anything is sent.
    needs_unified_account: bool = False
    # one request of the account's trade history covers at most this time range and this many trades
    # (Binance spot ``myTrades``: 24 h, 1000, oldest first; Bybit ``/v5/execution/list``: 7 days, 100,
    # newest first)
    history_window_ms: int = 86_400_000
    history_page: int = 1000


_SPOT_ORDER_TYPES = frozenset({"market", "limit", "stop_market", "stop_limit"})

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
        order_types=_SPOT_ORDER_TYPES,
        time_in_force=MappingProxyType({"gtc": "GTC", "ioc": "IOC", "fok": "FOK"}),
        trigger_price_param="stopPrice",
        native_oco=True,
        max_ohlcv_limit=1000,
        dead_man_method="fapiPrivatePostCountdownCancelAll",  # futures countdown cancel-all
        dead_man_window_param="countdownTime",
        dead_man_window_unit_ms=1,
        dead_man_per_symbol=True,
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
        order_types=_SPOT_ORDER_TYPES,
        time_in_force=MappingProxyType({"gtc": "GTC", "ioc": "IOC", "fok": "FOK", "post_only": "PO"}),
        trigger_price_param="triggerPrice",
        cancel_stop_params=MappingProxyType({"trigger": True}),
        conditional_take_profit=True,
        trigger_direction_inferred=True,
        needs_unified_account=True,
        history_window_ms=7 * 86_400_000,
        history_page=100,
        fetch_order_params=MappingProxyType({"acknowledged": True}),
        max_ohlcv_limit=1000,
        client_id_lookup_param="orderLinkId",
        create_returns_full_order=False,
        cancel_returns_full_order=False,
        lookup_by_client_id_via_open_orders=True,
        dead_man_method="privatePostV5OrderDisconnectedCancelAll",  # disconnection protection (DCP)
        dead_man_window_param="timeWindow",
        dead_man_window_unit_ms=1000,
        dead_man_extra=MappingProxyType({"product": "SPOT"}),
    ),
}
