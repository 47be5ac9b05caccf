import re
from dataclasses import replace
from decimal import Decimal

import pytest

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderType, TradingState
from smc_agent.core.errors import ConfigError
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId
from smc_agent.core.instrument import Instrument
from smc_agent.risk import checks
from smc_agent.risk.breakers import Breakers
from smc_agent.risk.config import RiskConfig, SymbolLimits
from smc_agent.risk.context import OpenOrderView, RiskContext
from smc_agent.risk.gate import RiskGate
from smc_agent.risk.sizing import Sizing, size_order

IID = InstrumentId("binance", "BTC/USDT")
D = Decimal


def cmd(
    side: OrderSide = OrderSide.BUY,
    qty: str = "1",
    *,
    order_type: OrderType = OrderType.MARKET,
    price: str | None = None,
    trigger: str | None = None,
    ref: str | None = "100",
    reduce_only: bool = False,
    cid: str = "c1",
) -> SubmitOrder:
    return SubmitOrder(
        ts_event=0,
        ts_init=0,
        strategy_id=StrategyId("s"),
        instrument_id=IID,
        client_order_id=ClientOrderId(cid),
        side=side,
        order_type=order_type,
        qty=D(qty),
        price=None if price is None else D(price),
        trigger_price=None if trigger is None else D(trigger),
        reduce_only=reduce_only,
        reference_price=None if ref is None else D(ref),
    )


def ctx(
    *,
    state: TradingState = TradingState.ACTIVE,
    position: str = "0",
    now: int = 1_000_000,
    open_orders: tuple[OpenOrderView, ...] = (),
    times: tuple[int, ...] = (),
    ref_ts: int | None = None,
    notional: dict[str, Decimal] | None = None,
) -> RiskContext:
    return RiskContext(
        now_ms=now,
        state=state,
        position_qty=D(position),
        positions_notional=notional or {},
        open_orders=open_orders,
        open_orders_total=len(open_orders),
        recent_order_times=times,
        recent_client_ids=frozenset(),
        equity=D(10_000),
        reference_ts=ref_ts,
    )


CFG = RiskConfig()


def test_default_quantity_cap_is_10000() -> None:
    assert checks.check_order_qty(cmd(qty="10000"), ctx(), CFG) is None
    denial = checks.check_order_qty(cmd(qty="10000.5"), ctx(), CFG)
    assert denial is not None and denial.check == "max_order_qty"
    assert denial.figures == {"qty": "10000.5", "limit": "10000"}


def test_per_symbol_override() -> None:
    cfg = RiskConfig(symbol_limits={"BTC/USDT": SymbolLimits(max_order_qty=D(2))})
    assert checks.check_order_qty(cmd(qty="3"), ctx(), cfg) is not None
    assert checks.check_order_qty(cmd(qty="2"), ctx(), cfg) is None


def test_price_collar_default_5_percent_and_never_above_10() -> None:
    ok = cmd(order_type=OrderType.LIMIT, price="105")
    bad = cmd(order_type=OrderType.LIMIT, price="105.01")
    assert checks.check_price_collar(ok, ctx(), CFG) is None
    denial = checks.check_price_collar(bad, ctx(), CFG)
    assert denial is not None and "collar" in denial.reason and denial.figures["reference"] == "100"
    assert checks.check_price_collar(cmd(order_type=OrderType.LIMIT, price="94.9"), ctx(), CFG) is not None
    with pytest.raises(ConfigError, match="price_collar"):
        RiskConfig(price_collar=D("0.11"))
    RiskConfig(price_collar=D("0.10"))


def test_collar_lets_passive_exits_rest_far_away() -> None:
    take_profit = cmd(OrderSide.SELL, order_type=OrderType.LIMIT, price="130", reduce_only=True)
    stop_loss = cmd(OrderSide.SELL, order_type=OrderType.STOP_MARKET, trigger="80", reduce_only=True)
    dumping_exit = cmd(OrderSide.SELL, order_type=OrderType.LIMIT, price="80", reduce_only=True)
    assert checks.check_price_collar(take_profit, ctx(), CFG) is None
    assert checks.check_price_collar(stop_loss, ctx(), CFG) is None
    assert checks.check_price_collar(dumping_exit, ctx(), CFG) is not None
    far_entry_stop = cmd(OrderSide.BUY, order_type=OrderType.STOP_MARKET, trigger="120")
    assert checks.check_price_collar(far_entry_stop, ctx(), CFG) is not None


def test_missing_or_stale_reference_fails_closed() -> None:
    assert checks.check_reference_price(cmd(ref=None), ctx(), CFG) is not None
    stale = ctx(now=10_000_000, ref_ts=10_000_000 - CFG.max_reference_age_ms - 1)
    assert checks.check_reference_price(cmd(), stale, CFG) is not None
    fresh = ctx(now=10_000_000, ref_ts=10_000_000 - 1000)
    assert checks.check_reference_price(cmd(), fresh, CFG) is None


def test_an_exit_is_not_refused_for_a_stale_or_missing_reference() -> None:
    # a protective stop attached when an entry fills, an hour-long bar after the last price
    stop = cmd(OrderSide.SELL, order_type=OrderType.STOP_MARKET, trigger="95", reduce_only=True)
    stale = ctx(now=10_000_000, ref_ts=10_000_000 - 3_600_000, position="1")
    assert checks.check_reference_price(stop, stale, CFG) is None
    assert checks.check_reference_price(cmd(OrderSide.SELL, ref=None, reduce_only=True), stale, CFG) is None
    # the same order opening a position is still refused, and so is one merely flagged reduce-only
    # that would not reduce (a live venue may not enforce the flag)
    entry = cmd(OrderSide.SELL, order_type=OrderType.STOP_MARKET, trigger="95")
    assert checks.check_reference_price(entry, stale, CFG) is not None
    flat = ctx(now=10_000_000, ref_ts=None)
    assert checks.check_reference_price(cmd(qty="5000", ref=None, reduce_only=True), flat, CFG) is not None
    too_big = cmd(OrderSide.SELL, "2", ref=None, reduce_only=True)
    assert checks.check_reference_price(too_big, stale, CFG) is not None


def test_history_candles_signal_no_entries_but_exits_go() -> None:
    back_fill = replace(ctx(position="1"), replaying="back-fill")
    denial = checks.check_history(cmd(), back_fill, CFG)
    assert denial is not None and denial.check == "history" and "back-fill" in denial.reason
    assert checks.check_history(cmd(OrderSide.SELL, reduce_only=True), back_fill, CFG) is None
    assert checks.check_history(cmd(OrderSide.SELL, "2", reduce_only=True), back_fill, CFG) is not None
    assert checks.check_history(cmd(), ctx(), CFG) is None  # live candles


def test_trading_state() -> None:
    assert checks.check_trading_state(cmd(), ctx(state=TradingState.HALTED), CFG) is not None
    reducing = ctx(state=TradingState.REDUCING, position="2")
    assert checks.check_trading_state(cmd(OrderSide.SELL, "2"), reducing, CFG) is None
    assert checks.check_trading_state(cmd(OrderSide.SELL, "3"), reducing, CFG) is not None  # would flip
    assert checks.check_trading_state(cmd(OrderSide.BUY, "1"), reducing, CFG) is not None  # adds


def test_notional_position_and_exposure_limits() -> None:
    cfg = RiskConfig(max_order_notional=D(1000), max_position_qty=D(5), max_total_exposure=D(2000))
    assert checks.check_order_notional(cmd(qty="10.01"), ctx(), cfg) is not None
    assert checks.check_order_notional(cmd(qty="10"), ctx(), cfg) is None
    assert checks.check_position(cmd(qty="2"), ctx(position="4"), cfg) is not None
    assert checks.check_position(cmd(OrderSide.SELL, "4"), ctx(position="4"), cfg) is None  # reduces
    exposure = ctx(notional={"ETH/USDT": D(1950)})
    assert checks.check_total_exposure(cmd(qty="1"), exposure, cfg) is not None
    assert checks.check_total_exposure(cmd(qty="0.5"), exposure, cfg) is None


def test_open_orders_rate_and_duplicates() -> None:
    view = OpenOrderView(OrderSide.BUY, OrderType.LIMIT, D(1), D(99), None, False)
    cfg = RiskConfig(max_open_orders=1, max_orders_per_minute=3)
    assert checks.check_open_orders(cmd(), ctx(open_orders=(view,)), cfg) is not None
    now = 1_000_000
    assert checks.check_order_rate(
        cmd(), ctx(now=now, times=(now - 70_000, now - 50, now - 40, now - 30)), cfg
    )
    assert checks.check_order_rate(cmd(), ctx(now=now, times=(now - 70_000, now - 50, now - 40)), cfg) is None
    same = cmd(order_type=OrderType.LIMIT, price="99")
    assert checks.check_duplicate(same, ctx(open_orders=(view,)), CFG) is not None
    other = cmd(order_type=OrderType.LIMIT, price="98")
    assert checks.check_duplicate(other, ctx(open_orders=(view,)), CFG) is None


def test_equal_exits_of_two_entries_are_not_duplicates() -> None:
    # two entries, each with a stop-loss at 95 for 1: the second stop is not a repeat of the first
    first_stop = OpenOrderView(OrderSide.SELL, OrderType.STOP_MARKET, D(1), None, D(95), True)
    second = cmd(
        OrderSide.SELL, order_type=OrderType.STOP_MARKET, trigger="95", reduce_only=True, cid="c1-sl"
    )
    assert checks.check_duplicate(second, ctx(open_orders=(first_stop,), position="2"), CFG) is None
    # a flagged order that would not reduce the position is compared like any other
    assert checks.check_duplicate(second, ctx(open_orders=(first_stop,), position="0"), CFG) is not None
    # its client order id sent twice is still refused
    sent = replace(
        ctx(open_orders=(first_stop,), position="2"), recent_client_ids=frozenset({ClientOrderId("c1-sl")})
    )
    assert checks.check_duplicate(second, sent, CFG) is not None


def test_gate_returns_first_denial_as_event_with_figures() -> None:
    gate = RiskGate(CFG)
    denial = gate.evaluate(cmd(qty="20000"), ctx())
    assert denial is not None
    event = gate.denied_event(cmd(qty="20000"), denial, ts=5)
    assert event.check == "max_order_qty" and event.reason.startswith("max_order_qty")
    assert event.figures["limit"] == "10000" and event.ts_event == 5
    assert gate.evaluate(cmd(), ctx()) is None


def test_breakers() -> None:
    b = Breakers(RiskConfig(daily_loss_limit=D("0.05"), max_drawdown=D("0.2")), 10_000.0, now_ms=0)
    assert b.update(9_600.0, now_ms=1000) is None
    trip = b.update(9_500.0, now_ms=2000)
    assert trip is not None and trip.state is TradingState.REDUCING and "daily_loss_limit" in trip.reason
    assert b.update(9_400.0, now_ms=86_400_000 + 1) is None  # new day: new baseline
    trip = b.update(8_000.0, now_ms=86_400_000 + 2)
    assert trip is not None and trip.state is TradingState.HALTED and trip.breaker == "max_drawdown"


def test_a_loss_at_the_first_update_of_a_day_counts_against_that_day() -> None:
    b = Breakers(RiskConfig(daily_loss_limit=D("0.05")), 10_000.0, now_ms=0)
    assert b.update(10_000.0, now_ms=86_399_000) is None
    trip = b.update(9_400.0, now_ms=86_400_000 + 300_000)  # a stop filled at the new day's first candle
    assert trip is not None and trip.breaker == "daily_loss_limit" and b.day_start_equity == 10_000.0


def test_sizing() -> None:
    inst = Instrument("binance", "BTC/USDT", "BTC", "USDT", D("0.01"), D("0.001"))
    by_risk = size_order(Sizing(), equity=D(10_000), entry=D(100), stop=D(98), inst=inst)
    assert by_risk == D("50.000")  # 1% of 10k = 100 lost over 2 per unit
    by_risk = size_order(Sizing(), equity=D(10_000), entry=D(1000), stop=D(990), inst=inst)
    assert by_risk == D("10.000")  # 100 / 10 = 10 units = 10k notional = the 1x cap exactly
    capped = size_order(Sizing(), equity=D(10_000), entry=D(1000), stop=D(999), inst=inst)
    assert capped == D("10.000")
    fixed = size_order(
        Sizing(mode="notional", notional=D(500)), equity=D(10_000), entry=D(3), stop=None, inst=inst
    )
    assert fixed == D("166.666")


def test_gate_leaves_out_only_checks_that_cannot_deny_under_its_config() -> None:
    permissive = RiskConfig.permissive()
    skipped = [c for c in checks.CHECKS if not checks.CAN_DENY.get(c, lambda _: True)(permissive)]
    assert {c.__name__ for c in skipped} == {
        "check_order_notional",
        "check_position",
        "check_total_exposure",
        "check_open_orders",
        "check_order_rate",
    }
    busy = ctx(
        position="9000",
        open_orders=tuple(
            OpenOrderView(OrderSide.BUY, OrderType.LIMIT, D(1), D(99), None, False) for _ in range(99)
        ),
        times=tuple(range(999_000, 1_000_000, 10)),
        notional={"ETH/USDT": D(10) ** 12},
    )
    for c in skipped:  # whatever the order and context, a skipped check would have passed
        assert c(cmd(qty="9999", ref="100"), busy, permissive) is None
        assert (
            c(cmd(OrderSide.SELL, "9999", order_type=OrderType.LIMIT, price="100"), busy, permissive) is None
        )
    # a per-symbol override re-enables the check it limits
    override = RiskConfig(
        max_order_notional=None, symbol_limits={"BTC/USDT": SymbolLimits(max_order_notional=D(50))}
    )
    assert checks.CAN_DENY[checks.check_order_notional](override)
    assert RiskGate(override).evaluate(cmd(qty="1"), ctx()) is not None
    gate = RiskGate(permissive)
    assert gate.evaluate(cmd(qty="9999"), busy) is None
    gate.config = RiskConfig(max_open_orders=5)  # changing the config re-selects the checks
    denial = gate.evaluate(cmd(qty="1"), busy)
    assert denial is not None and denial.check == "max_open_orders"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (
            {"max_order_qty": D("Infinity")},
            "max_order_qty must be a positive finite number, got Decimal('Infinity')",
        ),
        ({"max_order_qty": None}, "max_order_qty must be a positive finite number, got None"),
        ({"max_order_notional": D(-1)}, "max_order_notional must be a positive finite number or None"),
        ({"max_position_qty": D(-5)}, "max_position_qty must be a positive finite number or None"),
        ({"max_total_exposure": D(-1)}, "max_total_exposure must be a positive finite number or None"),
        ({"price_collar": D("NaN")}, "price_collar must be a positive finite number, got Decimal('NaN')"),
        ({"daily_loss_limit": D("NaN")}, "daily_loss_limit must be a positive finite number or None"),
        ({"max_open_orders": -3}, "max_open_orders must be a whole number of at least 1 or None"),
        ({"max_orders_per_minute": 0}, "max_orders_per_minute must be a whole number of at least 1 or None"),
        ({"duplicate_window_ms": -1}, "duplicate_window_ms must be a whole number of at least 0, got -1"),
        (
            {"symbol_limits": {"BTC/USDT": SymbolLimits(max_order_qty=D(10))}, "max_position_qty": D("1e9")},
            None,
        ),
    ],
)
def test_a_risk_config_with_a_limit_that_is_not_one_is_refused_saying_which(
    kwargs: dict[str, object], words: str | None
) -> None:
    """Each was accepted (an infinite quantity cap turned off the cap the playbook relies on) or failed
    with a bare InvalidOperation / TypeError."""
    if words is None:
        RiskConfig(**kwargs)  # type: ignore[arg-type]
        return
    with pytest.raises(ConfigError, match=re.escape(words)):
        RiskConfig(**kwargs)  # type: ignore[arg-type]


def test_symbol_limits_and_sizing_refuse_limits_that_are_not_ones() -> None:
    with pytest.raises(ConfigError, match=re.escape("symbol limit max_order_qty must be a positive finite")):
        SymbolLimits(max_order_qty=D(-1))
    for kwargs, words in (
        ({"max_leverage": D(0)}, "sizing max_leverage must be a positive finite number, got 0"),
        ({"notional": D(-500)}, "sizing notional must be a positive finite number, got -500"),
        ({"risk_fraction": D("NaN")}, "risk_fraction must be in (0, 1], got NaN"),
        ({"max_leverage": -1.0}, "sizing max_leverage must be a positive finite number, got -1.0"),
        ({"risk_fraction": "0.1"}, "risk_fraction must be in (0, 1], got 0.1"),
    ):
        with pytest.raises(ConfigError, match=re.escape(words)):
            Sizing(**kwargs)  # type: ignore[arg-type]


def test_sizing_given_floats_holds_them_as_decimals() -> None:
    """A float raised AttributeError ('float' object has no attribute 'is_finite')."""
    sizing = Sizing(risk_fraction=0.02, max_leverage=2, notional=500.5)  # type: ignore[arg-type]
    assert (sizing.risk_fraction, sizing.max_leverage, sizing.notional) == (D("0.02"), D(2), D("500.5"))


def test_a_bot_may_not_hold_the_side_opposite_the_other_bots() -> None:
    """The account holds 3 of the symbol, this bot 1 of it: the other bots hold 2 long."""
    mine = replace(ctx(position="3"), others_position_qty=D(2))
    sell = OrderSide.SELL
    assert checks.check_opposite_bots(cmd(sell, "1"), mine, CFG) is None  # to flat
    denial = checks.check_opposite_bots(cmd(sell, "1.5"), mine, CFG)  # a flip to short 0.5
    assert denial is not None and denial.check == "opposite_bots"
    assert denial.figures == {"others_qty": "2", "bot_qty": "1", "qty": "1.5", "side": "sell"}
    flat = replace(ctx(position="2"), others_position_qty=D(2))
    assert checks.check_opposite_bots(cmd(sell, "1"), flat, CFG) is not None  # opening a short
    assert checks.check_opposite_bots(cmd(OrderSide.BUY, "1"), flat, CFG) is None  # on their side
    short = replace(
        ctx(position="1"), others_position_qty=D(2)
    )  # already opposite (restored so): it may shrink
    assert checks.check_opposite_bots(cmd(OrderSide.BUY, "0.5"), short, CFG) is None
    assert checks.check_opposite_bots(cmd(sell, "0.5"), short, CFG) is not None
    assert checks.check_opposite_bots(cmd(sell, "5"), ctx(position="1"), CFG) is None  # one bot
