"""Deterministic, idempotent client order ids: the same signal always yields the same id.

A signal is identified by (strategy, instrument, the candle time it was decided on, side, tag, and
its sequence number among the orders that strategy sent on that candle). Replaying the same candles
after a restart therefore re-derives the same ids, and the venue (which treats the client id as an
idempotency key) refuses to create a second order.

Ids are ``<prefix>-<24 hex>`` (at most 36 characters, the Binance/Bybit limit), characters ``[a-z0-9-]``.
"""

from __future__ import annotations

from collections.abc import Callable
from hashlib import blake2b

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId

MAX_LEN = 36
OUR_PREFIX = "smc-"  # the default prefix: the ids of this system's orders at a venue


def _check_prefix(prefix: str) -> None:
    if not prefix.isalnum() or len(prefix) > 8:
        raise ValueError(f"client order id prefix must be 1-8 alphanumerics, got {prefix!r}")


def client_order_id(
    *,
    strategy_id: StrategyId,
    instrument_id: InstrumentId,
    signal_ts: int,
    side: OrderSide,
    tag: str = "",
    seq: int = 0,
    prefix: str = "smc",
) -> ClientOrderId:
    _check_prefix(prefix)
    key = f"{strategy_id}|{instrument_id}|{signal_ts}|{side.value}|{tag}|{seq}".encode()
    return ClientOrderId(f"{prefix.lower()}-{blake2b(key, digest_size=12).hexdigest()}")


SignalIds = Callable[[int, OrderSide, str, int], ClientOrderId]
"""(signal_ts, side, tag, seq) -> the client order id of that signal."""


def signal_ids(*, strategy_id: StrategyId, instrument_id: InstrumentId, prefix: str = "smc") -> SignalIds:
    """:func:`client_order_id` with the strategy, instrument and prefix bound (the same ids, without
    re-validating and re-formatting the fixed part on every order)."""
    _check_prefix(prefix)
    head = f"{strategy_id}|{instrument_id}|"
    lead = f"{prefix.lower()}-"

    def make(signal_ts: int, side: OrderSide, tag: str, seq: int) -> ClientOrderId:
        key = f"{head}{signal_ts}|{side._value_}|{tag}|{seq}".encode()
        return ClientOrderId(lead + blake2b(key, digest_size=12).hexdigest())

    return make


def child_order_id(parent: ClientOrderId, role: str) -> ClientOrderId:
    """Id of a protective child order (``role`` ``"sl"`` or ``"tp"``), derived from its parent."""
    result = f"{parent}-{role}"
    if len(result) > MAX_LEN:
        raise ValueError(f"child order id {result!r} longer than {MAX_LEN}")
    return ClientOrderId(result)


def child_role(client_order_id: str) -> str | None:
    """The role (``"sl"`` or ``"tp"``) of a protective child order's id (:func:`child_order_id`), else None."""
    role = client_order_id.rpartition("-")[2]
    return role if role in ("sl", "tp") else None


def parent_order_id(client_order_id: str) -> ClientOrderId | None:
    """The parent (entry) of a protective child order's id (:func:`child_order_id`), else None."""
    return ClientOrderId(client_order_id.rpartition("-")[0]) if child_role(client_order_id) else None


def sibling_order_id(client_order_id: str) -> ClientOrderId | None:
    """The other protective child of the same parent (the ``"tp"`` of an ``"sl"`` and back), else None."""
    parent = parent_order_id(client_order_id)
    if parent is None:
        return None
    return child_order_id(parent, "tp" if child_role(client_order_id) == "sl" else "sl")


def is_take_profit(cmd: SubmitOrder) -> bool:
    """A position's protective take-profit: the engine's reduce-only ``-tp`` limit child (the venues
    execute it as a market order at its price; the simulated venue does the same)."""
    return cmd.reduce_only and cmd.order_type is OrderType.LIMIT and child_role(cmd.client_order_id) == "tp"
