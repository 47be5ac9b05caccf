"""Restart recovery of the trading engine: positions and open orders come back from the database
before any new order.

The database is the execution engine's record, kept equal to the venue by reconciliation (on start
and periodically), so after a restart the trading engine adopts it instead of starting flat: each
stored position is loaded into the portfolio (as one fill at its average price, plus its realised
PnL), and each open order is registered in the order manager as submitted (accepted when the venue
acknowledged it, with its filled part), so its later fills and cancels apply and a redelivered
command with the same client order id is recognised and never sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import LiquiditySide, OrderSide, OrderStatus, OrderType
from smc_agent.core.events import OrderAccepted, OrderCanceled, OrderFilled, OrderSubmitted, OrderTriggered
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from smc_agent.core.position import Booking
from smc_agent.engine.engine import TradingEngine
from smc_agent.execution.ids import child_role, sibling_order_id
from smc_agent.execution.orders import FollowUp
from smc_agent.logs import get_logger
from smc_agent.store.trading_repo import StoredOrder, TradingRepo

log = get_logger("smc_agent.live.restore")
ZERO = Decimal(0)


# how far back a restart looks for fills already in the books and for entries whose exits were never
# sent: longer than any events backlog or outage it has to bridge
LOOKBACK_MS = 7 * 86_400_000


@dataclass(frozen=True, slots=True)
class Restored:
    positions: int
    open_orders: int
    skipped: tuple[str, ...]
    # (client order id, venue trade id) of the fills the restored books hold: an unread events
    # backlog carries some of them again, and applying one twice would double the position
    known_trades: frozenset[tuple[str, str]] = frozenset()
    exits_sent: int = 0  # entries that had filled without their exits, given them now


def logical_instrument(engine: TradingEngine, iid: InstrumentId) -> InstrumentId | None:
    """The engine's instrument for ``iid``: itself, or after a failover the engine's instrument of the
    same symbol on another venue (orders routed to the backup venue keep the engine's instrument)."""
    if iid in engine.instruments:
        return iid
    same = [i for i in engine.instruments if i.symbol == iid.symbol]
    return same[0] if len(same) == 1 else None


def restore_engine(engine: TradingEngine, repo: TradingRepo, *, now_ms: int) -> Restored:
    skipped: list[str] = []
    positions = 0
    for row in repo.positions():
        iid = logical_instrument(engine, InstrumentId(row["exchange"], row["symbol"]))
        qty: Decimal = row["quantity"]
        if iid is None:
            if qty != 0:
                skipped.append(f"position {row['symbol']}@{row['exchange']} (instrument not traded here)")
            continue
        bot = StrategyId(row["bot_id"] or "")
        if qty != 0:
            side = OrderSide.BUY if qty > 0 else OrderSide.SELL
            engine.portfolio.apply_fill(Booking(iid, side, abs(qty), row["average_price"]), bot)
            positions += 1
        for pos in (engine.portfolio.position(iid), engine.portfolio.bot_position(bot, iid)):
            pos.realized_pnl += row["realized_pnl"]
            pos.fees += row["fees"]
        engine.portfolio.fees += row["fees"]
        engine.portfolio.cash += row["realized_pnl"] - row["fees"]
        engine.portfolio.cash_f = float(engine.portfolio.cash)
    orders = 0
    for stored in repo.open_orders():
        iid = logical_instrument(engine, InstrumentId(stored.exchange, stored.symbol))
        if iid is None:
            skipped.append(f"order {stored.client_order_id} on {stored.symbol}@{stored.exchange}")
            continue
        _register(engine, stored, iid, now_ms)
        orders += 1
    _relink_exits(engine)
    for order in engine.orders.open_orders():  # a partly filled entry with exits: its rest is canceled
        engine.trim(order.client_order_id)
    orphans = engine.cancel_orphan_exits(_left_by_a_filled_sibling(engine, repo))
    since = now_ms - LOOKBACK_MS
    exits = 0
    for stored in repo.entries_without_exits(since):
        iid = logical_instrument(engine, InstrumentId(stored.exchange, stored.symbol))
        if iid is not None and not engine.orders.knows(ClientOrderId(stored.client_order_id)):
            _send_exits(engine, stored, iid, now_ms)
            exits += 1
    engine.reset_breakers()  # from the restored equity, not the starting cash
    restored = Restored(positions, orders, tuple(skipped), frozenset(repo.trade_ids_since(since)), exits)
    log.info(
        "trading engine restored from the database before any new order",
        positions=positions,
        open_orders=orders,
        skipped=list(skipped),
        entries_given_their_exits=exits,
        exits_of_ended_positions_canceled=orphans,
    )
    return restored


def _send_exits(engine: TradingEngine, stored: StoredOrder, iid: InstrumentId, now: int) -> None:
    """An entry that filled while the trading engine was down ended without its stop-loss and
    take-profit: its book-keeping up to its end, then the exits it asked for, sized to the position."""
    follow_ups = _register(engine, stored, iid, now)
    order = engine.orders.get(ClientOrderId(stored.client_order_id))
    if order is not None and order.is_open:  # filled in part, then canceled or expired at the venue
        canceled = OrderCanceled(**_event_base(stored, iid, now), reason=f"{stored.status} at the venue")
        follow_ups = engine.orders.apply(canceled)
    engine.follow_up(follow_ups)  # (the restored fill that completed it brought them)


def _event_base(stored: StoredOrder, iid: InstrumentId, now: int) -> dict[str, Any]:
    """The fields every order event of ``stored`` shares, as the restore replays them at ``now``."""
    return {
        "ts_event": now,
        "ts_init": now,
        "strategy_id": StrategyId(stored.bot_id or ""),
        "instrument_id": iid,
        "client_order_id": ClientOrderId(stored.client_order_id),
    }


def _left_by_a_filled_sibling(engine: TradingEngine, repo: TradingRepo) -> set[ClientOrderId]:
    """Restored stops and targets whose sibling filled while the trading engine was down: their
    entry's position is gone, whatever else the bot holds (a venue without order lists keeps them)."""
    ended: dict[str, ClientOrderId] = {}
    for order in engine.orders.open_orders():
        sibling = sibling_order_id(order.client_order_id)
        if sibling is not None and not engine.orders.knows(sibling):
            ended[sibling] = order.client_order_id
    if not ended:
        return set()
    stored = repo.get_many(list(ended))
    # whole: a target the venue ended after filling it in part leaves its stop protecting the rest. The
    # gateway reports such an order canceled; rows booked before it did (ccxt reads Bybit spot's
    # PartiallyFilledCanceled as closed) say filled, for less than their quantity
    return {
        ended[cid]
        for cid, row in stored.items()
        if row.status == OrderStatus.FILLED.value and row.filled_quantity >= row.quantity
    }


def _relink_exits(engine: TradingEngine) -> None:
    """Pair each restored stop-loss with its take-profit again: the engine cancels one when the other
    fills (a venue without order lists does not), and the pairing lived only in memory."""
    manager = engine.orders
    for order in manager.open_orders():
        cid, sibling = order.client_order_id, sibling_order_id(order.client_order_id)
        target = manager.get(sibling) if sibling is not None and child_role(cid) == "sl" else None
        if target is not None and target.status.is_open:
            manager.link_oco(cid, target.client_order_id)


def _register(engine: TradingEngine, stored: StoredOrder, iid: InstrumentId, now: int) -> list[FollowUp]:
    """Register ``stored`` in the engine's order manager as the venue left it (book-keeping only: its
    fills are in the restored position); what its last step derived (an ended entry's exits)."""
    cid = ClientOrderId(stored.client_order_id)
    sid = StrategyId(stored.bot_id or "")
    cmd = SubmitOrder(
        ts_event=now,
        ts_init=now,
        strategy_id=sid,
        instrument_id=iid,
        client_order_id=cid,
        side=OrderSide(stored.side),
        order_type=OrderType(stored.type),
        qty=stored.quantity,
        price=stored.price,
        trigger_price=stored.stop_price,
        reduce_only=stored.reduce_only,
        stop_loss=stored.stop_loss,  # its exits go out when it fills, after the restart too
        take_profit=stored.take_profit,
        tag=stored.tag or "",
    )
    manager = engine.orders
    manager.create(cmd)
    base = _event_base(stored, iid, now)
    manager.apply(
        OrderSubmitted(
            **base,
            side=cmd.side,
            order_type=cmd.order_type,
            qty=cmd.qty,
            price=cmd.price,
            trigger_price=cmd.trigger_price,
            reduce_only=cmd.reduce_only,
            tag=cmd.tag,
        )
    )
    if stored.status == OrderStatus.INITIALIZED.value:
        return []  # the execution engine resolves it with the venue; its report will follow
    vid = VenueOrderId(stored.venue_order_id or "")
    manager.apply(OrderAccepted(**base, venue_order_id=vid))
    if stored.status == OrderStatus.TRIGGERED.value:  # a venue stop reached, not yet filled
        manager.apply(OrderTriggered(**base))
    if stored.filled_quantity > 0:  # already in the restored position: order book-keeping only
        return manager.apply(
            OrderFilled(
                **base,
                venue_order_id=vid,
                trade_id=TradeId(f"restored-{cid}"),
                side=cmd.side,
                qty=stored.filled_quantity,
                price=stored.average_price or stored.price or ZERO,
                fee=ZERO,
                fee_currency="",
                liquidity=LiquiditySide.TAKER,
                is_last=False,
            )
        )
    return []
