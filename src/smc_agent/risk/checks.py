"""Pre-trade checks: each a small pure function ``(command, context, config) -> Denial | None``.

The order of :data:`CHECKS` is the order the gate runs them; the first denial wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderType, TradingState
from smc_agent.risk.config import RiskConfig
from smc_agent.risk.context import RiskView

# enum members as module constants (a class attribute lookup through the enum metaclass per use is
# ~0.1 us; every order runs these checks)
_BUY, _SELL = OrderSide.BUY, OrderSide.SELL
_MARKET, _STOP_MARKET = OrderType.MARKET, OrderType.STOP_MARKET
_PRICED = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_HALTED, _REDUCING = TradingState.HALTED, TradingState.REDUCING
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Denial:
    check: str
    reason: str
    figures: dict[str, str] = field(default_factory=dict)


Check = Callable[[SubmitOrder, RiskView, RiskConfig], "Denial | None"]


def order_price(cmd: SubmitOrder) -> Decimal | None:
    """The price the order would trade at: limit price, else trigger, else the reference price."""
    if cmd.order_type in _PRICED:
        return cmd.price
    if cmd.order_type is _STOP_MARKET:
        return cmd.trigger_price
    return cmd.reference_price


def pending_qty(side: OrderSide, ctx: RiskView, *, reduce_only: bool = False) -> Decimal:
    """What the open orders on ``side`` may still trade on the order's instrument (their unfilled rest):
    orders sent but not filled yet move the position as surely as filled ones. A position's stop-loss
    and take-profit are left out: they are alternatives that cover the position, one cancels the other.
    With ``reduce_only``, only reduce-only orders count (for a reduce-only order: the venue clips it to
    the position, and a close cancels the strategy's other orders before it goes)."""
    total = _ZERO
    for o in ctx.open_orders:
        if o.side is side and not o.protective and (o.reduce_only or not reduce_only):
            total += o.qty - o.filled_qty
    return total


def reduces_position(cmd: SubmitOrder, ctx: RiskView) -> bool:
    """True when the order only shrinks the position (never opens, adds or flips it), counting the
    orders on its side that are already open: three sells of a whole long sent in one candle do not
    all reduce it."""
    position_qty = ctx.position_qty
    if position_qty == 0:
        return False
    opposite = (cmd.side is _SELL) if position_qty > 0 else (cmd.side is _BUY)
    return opposite and cmd.qty + pending_qty(cmd.side, ctx, reduce_only=cmd.reduce_only) <= abs(position_qty)


def check_trading_state(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    if ctx.state is _HALTED:
        return Denial("trading_state", "trading is HALTED: no new orders", {"state": ctx.state.value})
    if ctx.state is _REDUCING and not reduces_position(cmd, ctx):
        return Denial(
            "trading_state",
            "trading is REDUCING: only orders that reduce the position are allowed",
            {"state": ctx.state.value, "position_qty": str(ctx.position_qty), "qty": str(cmd.qty)},
        )
    return None


def check_history(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    """No entries on candles a live runtime feeds as history (its back-fill on start): a signal an hour
    old is not one to trade now. An exit that shrinks the position still goes."""
    if ctx.replaying is None or reduces_position(cmd, ctx):
        return None
    return Denial("history", f"no entries on past candles: {ctx.replaying}")


def check_opposite_bots(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    """Bots sharing an account hold one net position per symbol at the venue: a bot may not open or
    add to a position on the side opposite the other bots' (its reduce-only exits would not reduce the
    account's position and be refused, REDUCING would take its opening for an exit, and on spot it
    would sell the other bots' coins). Shrinking its own position always goes."""
    others = ctx.others_position_qty
    if others == 0:
        return None
    mine = ctx.position_qty - others
    after = mine + (cmd.qty if cmd.side is _BUY else -cmd.qty)
    if after == 0 or (after > 0) == (others > 0) or ((mine > 0) == (after > 0) and abs(after) < abs(mine)):
        return None
    return Denial(
        "opposite_bots",
        f"other bots hold {others} of {cmd.instrument_id.symbol}: this bot may not hold {after}",
        {"others_qty": str(others), "bot_qty": str(mine), "qty": str(cmd.qty), "side": cmd.side.value},
    )


def check_order_qty(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    limit = cfg.limits_for(cmd.instrument_id.symbol).max_order_qty
    if limit is not None and cmd.qty > limit:
        return Denial(
            "max_order_qty",
            f"quantity {cmd.qty} above limit {limit}",
            {"qty": str(cmd.qty), "limit": str(limit)},
        )
    return None


def check_reference_price(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    """Fail closed: without a fresh reference price the collar cannot be enforced.

    A reduce-only order that shrinks the position passes: the collar leaves its trigger and passive
    price alone anyway, and refusing it leaves a position without its exit (a protective stop attached
    when an entry fills an hour-long bar after the last price, a close while the feed is late). The
    collar still holds an exit's aggressive limit price to a reference when there is one. The flag alone
    is not trusted: a live venue may not enforce it."""
    if cmd.reduce_only and reduces_position(cmd, ctx):
        return None
    if cmd.reference_price is None or cmd.reference_price <= 0:
        return Denial("reference_price", "no reference market price: cannot check the price collar")
    if ctx.reference_ts is not None and ctx.now_ms - ctx.reference_ts > cfg.max_reference_age_ms:
        age = ctx.now_ms - ctx.reference_ts
        return Denial(
            "reference_price",
            f"reference price is stale ({age} ms old)",
            {"age_ms": str(age), "limit_ms": str(cfg.max_reference_age_ms)},
        )
    return None


def check_price_collar(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    """Entry orders: price and trigger within the collar on both sides of the reference. Reduce-only
    exits (protective stops, take-profits) may rest far away on the passive side; their limit price is
    held to the collar only where it would trade worse than the market."""
    if cmd.price is None and cmd.trigger_price is None:
        return None  # a market order: nothing to hold to the collar
    ref = cmd.reference_price
    if ref is None or ref <= 0:
        return None  # check_reference_price already denied
    buy = cmd.side is _BUY
    for name, price in (("price", cmd.price), ("trigger_price", cmd.trigger_price)):
        if price is None:
            continue
        if cmd.reduce_only and (name == "trigger_price" or (price <= ref if buy else price >= ref)):
            continue  # a protective trigger or a passive exit limit cannot trade worse than the market
        deviation = abs(price - ref) / ref
        if deviation > cfg.price_collar:
            return Denial(
                "price_collar",
                f"{name} {price} is {deviation:.2%} from market {ref}, collar {cfg.price_collar:.2%}",
                {
                    name: str(price),
                    "reference": str(ref),
                    "deviation": f"{deviation:.6f}",
                    "collar": str(cfg.price_collar),
                },
            )
    return None


def check_exit_prices(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    """An entry's stop-loss and take-profit (rounded to the tick) are positive prices on their own side
    of the price it would trade at (its limit or trigger, else the market): a long's stop above its
    entry would trigger at once on a venue (and in a backtest "fill" where the market never traded),
    and a stop of 0 cannot be placed at all once the entry has filled."""
    stop, target = cmd.stop_loss, cmd.take_profit
    if stop is None and target is None:
        return None
    for name, level in (("stop_loss", stop), ("take_profit", target)):
        if level is not None and not level > 0:
            return Denial("exit_prices", f"{name} {level} is not a positive price", {name: str(level)})
    entry = order_price(cmd)
    if entry is None:
        return None  # a market order without a reference: check_reference_price denies it
    buy = cmd.side is _BUY
    for name, level, below in (("stop_loss", stop, buy), ("take_profit", target, not buy)):
        if level is not None and not (level < entry if below else level > entry):
            where = "below" if below else "above"
            return Denial(
                "exit_prices",
                f"{name} {level} of a {cmd.side.value} must be {where} its entry price {entry}",
                {name: str(level), "entry": str(entry)},
            )
    return None


def check_order_notional(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    limit = cfg.limits_for(cmd.instrument_id.symbol).max_order_notional
    price = order_price(cmd)
    if limit is None or price is None:
        return None
    notional = cmd.qty * price
    if notional > limit:
        return Denial(
            "max_order_notional",
            f"notional {notional} above limit {limit}",
            {"notional": str(notional), "limit": str(limit)},
        )
    return None


def _projected_qty(cmd: SubmitOrder, ctx: RiskView) -> Decimal:
    """The position once this order and the open ones on its side have filled."""
    qty = cmd.qty + pending_qty(cmd.side, ctx)
    return ctx.position_qty + (qty if cmd.side is _BUY else -qty)


def check_position(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    if reduces_position(cmd, ctx):
        return None
    limits = cfg.limits_for(cmd.instrument_id.symbol)
    projected = abs(_projected_qty(cmd, ctx))
    if limits.max_position_qty is not None and projected > limits.max_position_qty:
        return Denial(
            "max_position_qty",
            f"position would be {projected}, limit {limits.max_position_qty}",
            {"projected": str(projected), "limit": str(limits.max_position_qty)},
        )
    price = order_price(cmd)
    if limits.max_position_notional is not None and price is not None:
        notional = projected * price
        if notional > limits.max_position_notional:
            return Denial(
                "max_position_notional",
                f"position notional would be {notional}, limit {limits.max_position_notional}",
                {"projected_notional": str(notional), "limit": str(limits.max_position_notional)},
            )
    return None


def check_total_exposure(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    price = order_price(cmd)
    if cfg.max_total_exposure is None or price is None or reduces_position(cmd, ctx):
        return None
    symbol = cmd.instrument_id.symbol
    others = sum((v for k, v in ctx.positions_notional.items() if k != symbol), Decimal(0))
    total = others + abs(_projected_qty(cmd, ctx)) * price
    if total > cfg.max_total_exposure:
        return Denial(
            "max_total_exposure",
            f"total exposure would be {total}, limit {cfg.max_total_exposure}",
            {"projected_exposure": str(total), "limit": str(cfg.max_total_exposure)},
        )
    return None


def check_open_orders(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    if cfg.max_open_orders is not None and ctx.open_orders_total >= cfg.max_open_orders:
        return Denial(
            "max_open_orders",
            f"{ctx.open_orders_total} open orders, limit {cfg.max_open_orders}",
            {"open_orders": str(ctx.open_orders_total), "limit": str(cfg.max_open_orders)},
        )
    return None


def check_order_rate(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    if cfg.max_orders_per_minute is None:
        return None
    since = ctx.now_ms - 60_000
    count = 0
    for ts in reversed(ctx.recent_order_times):  # ascending times: stop at the first old one
        if ts <= since:
            break
        count += 1
    if count >= cfg.max_orders_per_minute:
        return Denial(
            "order_rate",
            f"{count} orders in the last minute, limit {cfg.max_orders_per_minute}",
            {"orders_last_minute": str(count), "limit": str(cfg.max_orders_per_minute)},
        )
    return None


def check_duplicate(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    if cmd.client_order_id in ctx.recent_client_ids:
        return Denial(
            "duplicate_order",
            f"client order id {cmd.client_order_id} was already sent",
            {"client_order_id": cmd.client_order_id},
        )
    if cfg.duplicate_window_ms <= 0 or cmd.order_type is _MARKET:
        return None  # only resting orders are held to this rule: a market order is never a duplicate
    if cmd.reduce_only and reduces_position(cmd, ctx):
        return None  # equal exits of two entries (equal stop-losses of two fills) are not repeats
    key = (cmd.side, cmd.order_type, cmd.qty, cmd.price, cmd.trigger_price, cmd.reduce_only)
    for o in ctx.open_orders:
        if (o.side, o.order_type, o.qty, o.price, o.trigger_price, o.reduce_only) == key:
            return Denial(
                "duplicate_order",
                "an identical order is already open",
                {"side": cmd.side.value, "qty": str(cmd.qty), "price": str(cmd.price)},
            )
    return None


CHECKS: tuple[Check, ...] = (
    check_trading_state,
    check_opposite_bots,
    check_history,
    check_order_qty,
    check_reference_price,
    check_price_collar,
    check_exit_prices,
    check_order_notional,
    check_position,
    check_total_exposure,
    check_open_orders,
    check_order_rate,
    check_duplicate,
)


def _any_limit(cfg: RiskConfig, name: str) -> bool:
    return getattr(cfg, name) is not None or any(
        getattr(over, name) is not None for over in cfg.symbol_limits.values()
    )


# Checks that can never deny under a config (every limit they compare against is ``None``): the gate
# leaves them out instead of running them on every order. A check not listed always runs.
CAN_DENY: dict[Check, Callable[[RiskConfig], bool]] = {
    check_order_notional: lambda cfg: _any_limit(cfg, "max_order_notional"),
    check_position: lambda cfg: (
        _any_limit(cfg, "max_position_qty") or _any_limit(cfg, "max_position_notional")
    ),
    check_total_exposure: lambda cfg: cfg.max_total_exposure is not None,
    check_open_orders: lambda cfg: cfg.max_open_orders is not None,
    check_order_rate: lambda cfg: cfg.max_orders_per_minute is not None,
}
