"""Faster forms of pre-trade checks decide exactly as the forms they replaced."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderType, TradingState
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId
from smc_agent.risk import checks
from smc_agent.risk.checks import Denial
from smc_agent.risk.config import RiskConfig
from smc_agent.risk.context import OpenOrderView, RiskContext, RiskView


def _duplicate_before(cmd: SubmitOrder, ctx: RiskView, cfg: RiskConfig) -> Denial | None:
    """``check_duplicate`` spelled out: every open order compared, the order type and the reduce-only
    exemption tested last."""
    if cmd.client_order_id in ctx.recent_client_ids:
        return Denial(
            "duplicate_order",
            f"client order id {cmd.client_order_id} was already sent",
            {"client_order_id": cmd.client_order_id},
        )
    if cfg.duplicate_window_ms <= 0:
        return None
    for o in ctx.open_orders:
        if (o.side, o.order_type, o.qty, o.price, o.trigger_price, o.reduce_only) == (
            cmd.side,
            cmd.order_type,
            cmd.qty,
            cmd.price,
            cmd.trigger_price,
            cmd.reduce_only,
        ) and (
            cmd.order_type is not OrderType.MARKET
            and not (cmd.reduce_only and checks.reduces_position(cmd, ctx))
        ):
            return Denial(
                "duplicate_order",
                "an identical order is already open",
                {"side": cmd.side.value, "qty": str(cmd.qty), "price": str(cmd.price)},
            )
    return None


_sides = st.sampled_from(list(OrderSide))
_types = st.sampled_from(list(OrderType))
_qty = st.sampled_from([Decimal(1), Decimal("1.0"), Decimal(2)])
_px = st.sampled_from([None, Decimal(99), Decimal("99.00"), Decimal(100)])
_views = st.builds(OpenOrderView, _sides, _types, _qty, _px, _px, st.booleans())


@settings(max_examples=400, deadline=None)
@given(
    side=_sides,
    order_type=_types,
    qty=_qty,
    price=_px,
    trigger=_px,
    reduce_only=st.booleans(),
    views=st.lists(_views, max_size=4),
    sent=st.booleans(),
    window=st.sampled_from([0, 1_000]),
    twin_at=st.none() | st.integers(min_value=0, max_value=4),
    position=st.sampled_from([Decimal(0), Decimal(1), Decimal(-2)]),
)
def test_check_duplicate_decides_as_before(
    *,
    side: OrderSide,
    order_type: OrderType,
    qty: Decimal,
    price: Decimal | None,
    trigger: Decimal | None,
    reduce_only: bool,
    views: list[OpenOrderView],
    sent: bool,
    window: int,
    twin_at: int | None,
    position: Decimal,
) -> None:
    if twin_at is not None:  # an open order identical to the new one (the case the rule is for)
        views.insert(twin_at, OpenOrderView(side, order_type, qty, price, trigger, reduce_only))
    cmd = SubmitOrder(
        ts_event=0,
        ts_init=0,
        strategy_id=StrategyId("s"),
        instrument_id=InstrumentId("binance", "BTC/USDT"),
        client_order_id=ClientOrderId("c1"),
        side=side,
        order_type=order_type,
        qty=qty,
        price=price,
        trigger_price=trigger,
        reduce_only=reduce_only,
        reference_price=Decimal(100),
    )
    ctx = RiskContext(
        now_ms=0,
        state=TradingState.ACTIVE,
        position_qty=position,
        positions_notional={},
        open_orders=tuple(views),
        open_orders_total=len(views),
        recent_order_times=(),
        recent_client_ids=frozenset({ClientOrderId("c1")} if sent else ()),
        equity=Decimal(10_000),
    )
    cfg = RiskConfig(duplicate_window_ms=window)
    assert checks.check_duplicate(cmd, ctx, cfg) == _duplicate_before(cmd, ctx, cfg)
