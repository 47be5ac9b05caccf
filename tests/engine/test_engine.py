from dataclasses import replace
from decimal import Decimal
from typing import Any

from smc_agent.backtest.fill_model import FillModel
from smc_agent.core.candle import Candle
from smc_agent.core.enums import LiquiditySide, OrderSide, OrderStatus, TradingState
from smc_agent.core.events import (
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderSubmitted,
    StrategyFailed,
    TradingStateChanged,
)
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from smc_agent.engine.aggregator import CandleAggregator
from smc_agent.risk.config import RiskConfig
from smc_agent.strategy.base import Strategy
from tests.engine.harness import INST, Rig, Scripted


def boom(s: Strategy, c: Candle) -> None:
    raise RuntimeError("user bug")


def test_strategy_exception_halts_only_that_bot() -> None:
    strategy = Scripted({0: lambda s, c: s.buy(qty=1, price=90), 1: boom})
    rig = Rig(strategy)
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)
    (failed,) = rig.of(StrategyFailed)
    assert (
        failed.hook == "on_candle" and "RuntimeError: user bug" in failed.error and "boom" in failed.traceback
    )
    (state,) = rig.of(TradingStateChanged)
    assert state.scope == "bot:bot" and state.state is TradingState.HALTED
    assert len(strategy.seen) == 2  # not called after the failure
    assert [c.reason for c in rig.of(OrderCanceled)] == ["canceled by request"]  # its entry order
    assert rig.engine.state is TradingState.ACTIVE  # the engine carries on


def test_denial_is_an_event_with_check_and_figures() -> None:
    strategy = Scripted({0: lambda s, c: s.buy(qty=20_000)})
    rig = Rig(strategy, risk=RiskConfig(max_order_notional=None), cash="100000000")
    rig.bar(100, 101, 99, 100)
    (denied,) = rig.of(OrderDenied)
    assert denied.check == "max_order_qty" and denied.figures == {"qty": "20000.000", "limit": "10000"}
    assert strategy.order_events == [denied]
    order = rig.engine.orders.get(denied.client_order_id)
    assert order is not None and order.status is OrderStatus.DENIED
    assert rig.of(OrderSubmitted) == []


def test_same_signal_is_sent_once() -> None:
    strategy = Scripted({0: lambda s, c: s.buy(qty=1, price=95, tag="x")})
    rig = Rig(strategy)
    rig.bar(100, 101, 99, 100)
    bot = rig.engine.bots["bot"]
    cmd_id = rig.of(OrderSubmitted)[0].client_order_id
    bot.seq = 0  # replay the same signal (e.g. after a restart)
    again = strategy.buy(qty=1, price=95, tag="x")
    assert again == cmd_id
    assert len(rig.of(OrderSubmitted)) == 1


def test_halt_cancels_entries_keeps_protective_orders_and_denies_new() -> None:
    strategy = Scripted({0: lambda s, c: (s.buy(qty=1, stop_loss=90), s.buy(qty=1, price=80))})
    rig = Rig(strategy)
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)  # market entry fills, stop-loss placed; limit at 80 rests
    rig.engine.set_trading_state(TradingState.HALTED, "operator: emergency halt")
    open_orders = rig.engine.orders.open_orders()
    assert [o.client_order_id.endswith("-sl") for o in open_orders] == [True]
    assert strategy.buy(qty=1) is None
    assert rig.of(OrderDenied)[-1].check == "trading_state"
    (change,) = rig.of(TradingStateChanged)
    assert change.reason == "operator: emergency halt" and change.previous is TradingState.ACTIVE


def test_a_close_refused_while_halted_leaves_the_stop_and_target_working() -> None:
    # close() canceled the protective orders first and then had its own order refused: after an
    # emergency halt the position stayed open with no stop at all
    strategy = Scripted({0: lambda s, c: s.buy(qty=1, stop_loss=90, take_profit=120)})
    rig = Rig(strategy)
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)  # entry fills, stop and target placed
    rig.engine.set_trading_state(TradingState.HALTED, "operator: emergency halt")
    assert strategy.close() is None
    working = sorted(o.client_order_id[-3:] for o in rig.engine.orders.open_orders())
    assert working == ["-sl", "-tp"] and not rig.of(OrderCanceled)
    rig.engine.set_trading_state(TradingState.ACTIVE, "operator: resumed")
    assert strategy.close() is not None  # accepted: now the stop and target go
    assert sorted(c.client_order_id[-3:] for c in rig.of(OrderCanceled)) == ["-sl", "-tp"]


def test_reducing_allows_exits_only() -> None:
    strategy = Scripted({0: lambda s, c: s.buy(qty=2)})
    rig = Rig(strategy)
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)
    rig.engine.set_trading_state(TradingState.REDUCING, "daily loss")
    assert strategy.buy(qty=1) is None
    assert strategy.close() is not None
    rig.bar(100, 101, 99, 100)
    assert rig.engine.portfolio.position(strategy.instrument_id).is_flat


def test_drawdown_breaker_halts_engine() -> None:
    strategy = Scripted({0: lambda s, c: s.buy(qty=100)})
    rig = Rig(
        strategy,
        risk=RiskConfig(max_drawdown=Decimal("0.1"), daily_loss_limit=None, max_order_notional=None),
        cash="20000",
    )
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 70, 75)  # -2500 on 20000 = 12.5%
    assert rig.engine.state is TradingState.HALTED
    assert "max_drawdown" in rig.engine.state_reason


def test_a_fill_before_any_candle_is_valued_at_its_price_by_the_breakers() -> None:
    # after a restart a working order can fill before the first candle: the breakers, which look
    # after every fill, value the position at the fill's price (this raised KeyError on the mark)
    rig = Rig(Scripted(), risk=RiskConfig(max_drawdown=Decimal("0.1")), cash="20000")
    rig.clock.set_time(5_000)
    rig.engine.handle_event(
        OrderFilled(
            ts_event=4_000,
            ts_init=5_000,
            strategy_id=StrategyId("bot"),
            instrument_id=INST.id,
            client_order_id=ClientOrderId("restored-1"),
            venue_order_id=VenueOrderId("v-1"),
            trade_id=TradeId("t-1"),
            side=OrderSide.BUY,
            qty=Decimal(2),
            price=Decimal(100),
            fee=Decimal("0.2"),
            fee_currency="USDT",
            liquidity=LiquiditySide.TAKER,
            is_last=True,
        )
    )
    assert rig.engine.state is TradingState.ACTIVE
    assert rig.engine.portfolio.equity() == Decimal("19999.8")
    assert rig.engine._ref_ts[INST.id] == 4_000  # the fill's own time: its price ages like a candle's


def test_an_entry_filled_away_from_the_last_close_is_not_a_loss_to_the_breakers() -> None:
    # the breakers look right after a fill: a buy filled at a gapped open of 120 (close 100) was valued
    # at 100 and read as a 16% drawdown, halting the engine on a trade that had lost nothing
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=800)}),
        risk=RiskConfig(
            max_drawdown=Decimal("0.1"), daily_loss_limit=Decimal("0.05"), max_order_notional=None
        ),
    )
    rig.bar(100, 100, 100, 100)
    rig.bar(120, 121, 119, 120)
    assert rig.engine.state is TradingState.ACTIVE and rig.of(TradingStateChanged) == []
    assert rig.engine.portfolio.marks[INST.id] == 120.0


def test_reset_breakers_starts_from_the_equity_now() -> None:
    rig = Rig(Scripted(), risk=RiskConfig(daily_loss_limit=Decimal("0.05")), cash="10000")
    pf = rig.engine.portfolio
    pf.cash -= 600  # what a restart's restore adds: the realised PnL of before
    pf.cash_f = float(pf.cash)
    rig.engine.reset_breakers()
    assert rig.engine.breakers.update(9_390.0, now_ms=1_000) is None  # 0.1% today, not 6.1%


class MultiTf(Strategy):
    timeframes = ("5m",)

    def on_start(self, **kwargs: Any) -> None:
        self.got: list[tuple[str, int, int]] = []

    def on_candle(self, candle: Candle) -> None:
        self.got.append((candle.timeframe, candle.open_time, self.now))


def test_higher_timeframe_candles_arrive_with_the_base_candle_that_closes_them() -> None:
    strategy = MultiTf()
    rig = Rig(strategy)
    for _ in range(11):
        rig.bar(100, 101, 99, 100)
    htf = [g for g in strategy.got if g[0] == "5m"]
    assert htf == [("5m", 0, 300_000), ("5m", 300_000, 600_000)]  # never before the bucket ends
    first = strategy.got.index(("5m", 0, 300_000))
    assert strategy.got[first - 1] == ("1m", 0, 60_000) or strategy.got[first - 1][0] == "1m"


def test_aggregator_ohlcv_and_gaps() -> None:
    agg = CandleAggregator("1m", "3m")
    rows = [
        (0, 10, 12, 9, 11, 1),
        (60_000, 11, 15, 10, 14, 2),
        (120_000, 14, 14, 8, 9, 3),
        (180_000, 9, 10, 9, 10, 1),
        (360_000, 20, 21, 19, 20, 5),
    ]
    out = []
    for t, o, h, lo, c, v in rows:
        gap, done = agg.update(Candle("sim", "X", "1m", t, o, h, lo, c, v))
        out.extend(x for x in (gap, done) if x is not None)
    assert [(x.open_time, x.open, x.high, x.low, x.close, x.volume) for x in out] == [
        (0, 10, 15, 8, 9, 6),
        (180_000, 9, 10, 9, 10, 1),  # incomplete bucket emitted once a later bucket starts
    ]


def test_fills_reach_the_strategy_and_positions() -> None:
    strategy = Scripted({0: lambda s, c: s.sell(qty=1)})
    rig = Rig(strategy)
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)
    assert [type(f) for f in strategy.fills] == [OrderFilled]
    assert strategy.position_size == -1.0


def test_exits_left_when_the_position_is_flat_are_canceled() -> None:
    # close() cancels a half-filled bracketed entry; the cancel attaches its stop and target to the half
    # that filled, then the close flattens it: the stop and target must go too (a spot venue does not
    # know "reduce-only" and would sell holdings with them)
    rig = Rig(
        Scripted(
            {
                0: lambda s, c: s.buy(qty=2, price=100, stop_loss=95, take_profit=110),
                2: lambda s, c: s.close(),
            }
        ),
        fill_model=FillModel(maker_fee=Decimal(0), taker_fee=Decimal(0), max_participation=0.5),
    )
    rig.bar(100, 100, 100, 100, v=10)
    rig.bar(100, 100.5, 99.5, 100, v=1)  # the entry fills 0.5 of 2
    rig.bar(100, 100.5, 99.5, 100, v=0)  # no volume; close(): entry canceled, its stop and target placed
    rig.bar(100, 100.5, 99.5, 100, v=10)  # the close fills
    assert rig.engine.portfolio.position(INST.id).is_flat
    assert rig.engine.orders.open_orders() == [] and rig.venue.open_orders() == []
    canceled = {e.client_order_id[-3:]: e.reason for e in rig.of(OrderCanceled)}
    assert canceled["-sl"] == canceled["-tp"] == "canceled by request"


def test_entries_are_refused_while_the_engine_replays_history() -> None:
    # a live runtime back-filling on start: strategies see the old candles, but an entry signalled by
    # one is refused (it went out as a market order on an hour-old signal); exits still go
    rig = Rig(
        Scripted({1: lambda s, c: s.buy(qty=1), 2: lambda s, c: s.buy(qty=1), 3: lambda s, c: s.close()})
    )
    rig.bar(100, 100, 100, 100)
    rig.engine.replaying = "back-fill, candle closed 3600 s ago"
    rig.bar(100, 100, 100, 100)
    (denied,) = rig.of(OrderDenied)
    assert denied.check == "history" and "3600 s ago" in denied.reason
    rig.engine.replaying = None
    rig.bar(100, 100, 100, 100)  # a live candle: the entry goes
    rig.engine.replaying = "back-fill"
    rig.bar(101, 101, 101, 101)  # the close of that position is an exit: it goes
    assert [o.side.value for o in rig.of(OrderSubmitted)] == ["buy", "sell"]


def test_a_stop_or_target_on_the_wrong_side_of_the_entry_is_denied_before_any_order() -> None:
    """A long's stop above its entry "filled" in a backtest at a price the bar never traded (a venue
    refuses or triggers it at once); a stop of 0 crashed the whole run once the entry had filled."""
    cases = [
        (
            lambda s, c: s.buy(qty=1, stop_loss=105),
            "stop_loss 105.00 of a buy must be below its entry price 100",
        ),
        (
            lambda s, c: s.buy(qty=1, take_profit=99),
            "take_profit 99.00 of a buy must be above its entry price 100",
        ),
        (
            lambda s, c: s.sell(qty=1, price=102, stop_loss=101),
            "stop_loss 101.00 of a sell must be above its entry price 102.00",
        ),
        (
            lambda s, c: s.buy(qty=1, trigger=103, take_profit=103),
            "take_profit 103.00 of a buy must be above its entry price 103.00",
        ),
        (lambda s, c: s.buy(qty=1, stop_loss=0), "stop_loss 0.00 is not a positive price"),
        (lambda s, c: s.buy(qty=1, stop_loss=0.004), "stop_loss 0.00 is not a positive price"),
        (lambda s, c: s.sell(qty=1, take_profit=-5), "take_profit -5.00 is not a positive price"),
    ]
    for order, words in cases:
        rig = Rig(Scripted({0: order}))
        rig.bar(100, 101, 99, 100)
        rig.bar(100, 101, 99, 100)
        (denied,) = rig.of(OrderDenied)
        assert denied.check == "exit_prices" and words in denied.reason, (words, denied.reason)
        assert rig.of(OrderSubmitted) == [] and rig.of(OrderFilled) == [] and rig.of(StrategyFailed) == []
    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=1, stop_loss=95, take_profit=110)}))
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)
    assert rig.of(OrderDenied) == [] and len(rig.of(OrderFilled)) == 1


def test_position_limits_and_reducing_count_the_orders_already_sent() -> None:
    """Orders sent but not yet filled move the position as surely as filled ones: three buys in one
    candle past the position limit, or three sells of one long while REDUCING (which ended short), were
    each checked against the filled position alone."""
    three_buys = Scripted({0: lambda s, c: [s.buy(qty=0.04, tag=f"b{i}") for i in range(3)]})
    rig = Rig(three_buys, risk=replace(RiskConfig.permissive(), max_position_qty=Decimal("0.05")))
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)
    assert [d.check for d in rig.of(OrderDenied)] == ["max_position_qty", "max_position_qty"]
    assert rig.of(OrderDenied)[0].figures["projected"] == "0.080"
    assert rig.engine.portfolio.position(INST.id).qty == Decimal("0.040")

    def sell_three(s: Strategy, c: Candle) -> None:
        s.ctx._e.set_trading_state(TradingState.REDUCING, "test")  # type: ignore[attr-defined]
        for i in range(3):
            s.sell(qty=0.01, tag=f"s{i}")

    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=0.01), 2: sell_three}))
    for _ in range(4):
        rig.bar(100, 101, 99, 100)
    assert [d.check for d in rig.of(OrderDenied)] == ["trading_state", "trading_state"]
    assert rig.engine.portfolio.position(INST.id).is_flat  # not short 0.02
    # a position's stop and target are alternatives, not two sells: both go, and close() still may
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=1, stop_loss=90, take_profit=120), 2: sell_three}),
    )
    for _ in range(4):
        rig.bar(100, 101, 99, 100)
    assert len([o for o in rig.of(OrderSubmitted) if o.reduce_only]) == 2
    assert [d.check for d in rig.of(OrderDenied)] == []  # 3 x 0.01 of a long of 1


def test_a_halted_bot_sends_nothing_for_the_rest_of_the_call_that_halted_it() -> None:
    """A hook the engine called during ``on_candle`` (here ``on_order_event`` on a denial) raised: the
    bot was halted, and the two orders ``on_candle`` sent afterwards were filled."""

    class Halts(Scripted):
        def on_order_event(self, event: Any, **kwargs: Any) -> None:
            raise RuntimeError("bug in on_order_event")

    def orders(s: Strategy, c: Candle) -> None:
        s.buy(qty=20_000)  # denied (max_order_qty): on_order_event raises
        s.buy(qty=1, tag="after")
        s.buy(qty=1, price=99, tag="after2")

    rig = Rig(Halts({0: orders}))
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 98, 100)
    assert [f.hook for f in rig.of(StrategyFailed)] == ["on_order_event"]
    assert [d.check for d in rig.of(OrderDenied)] == ["max_order_qty", "bot_halted", "bot_halted"]
    assert rig.of(OrderSubmitted) == [] and rig.of(OrderFilled) == []


def test_sys_exit_in_a_strategy_halts_the_bot_not_the_run() -> None:
    def leave(s: Strategy, c: Candle) -> None:
        raise SystemExit(3)

    strategy = Scripted({1: leave})
    rig = Rig(strategy)
    for _ in range(3):
        rig.bar(100, 101, 99, 100)
    (failed,) = rig.of(StrategyFailed)
    assert failed.hook == "on_candle" and failed.error == "SystemExit: 3"
    assert len(strategy.seen) == 2


def test_a_flip_cancels_the_exits_of_the_position_it_ended() -> None:
    """Long 1 with its stop and target; a sell of 2 flips it short; a buy of 2 flips it long again: the
    first long's stop at 95 was still working and sold the new long."""
    rig = Rig(
        Scripted(
            {
                0: lambda s, c: s.buy(qty=1, stop_loss=95, take_profit=110),
                2: lambda s, c: s.sell(qty=2, tag="flip"),
                4: lambda s, c: s.buy(qty=2, tag="back"),
            }
        )
    )
    for _ in range(6):
        rig.bar(100, 101, 99, 100)
    rig.bar(100, 100, 94, 95)  # the old stop's level
    canceled = {c.client_order_id.rsplit("-", 1)[-1] for c in rig.of(OrderCanceled)}
    assert canceled == {"sl", "tp"}
    assert rig.engine.portfolio.position(INST.id).qty == Decimal(1)  # the new long stands
    assert not any(f.client_order_id.endswith("-sl") for f in rig.of(OrderFilled))


def test_a_bot_cannot_cancel_another_bots_order() -> None:
    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=1, price=90, tag="mine")}))
    other = Scripted({1: lambda s, c: s.cancel(rig.of(OrderSubmitted)[0].client_order_id)})
    rig.engine.add_strategy(other, instrument_id=INST.id, timeframe="1m", strategy_id="other")
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)
    (failed,) = rig.of(StrategyFailed)
    assert failed.strategy_id == "other" and "belongs to bot bot, not to other" in failed.error
    assert rig.of(OrderCanceled) == []  # the first bot's entry still works
    assert rig.engine.orders.open_count == 1


def _reducing(s: Strategy, c: Candle) -> None:
    s.ctx._e.set_trading_state(TradingState.REDUCING, "test")  # type: ignore[attr-defined]


def test_while_reducing_a_close_and_a_positions_stop_go_beside_the_strategys_own_resting_sell() -> None:
    """Counting open orders refused them: a close() beside a resting sell of the whole position (which
    the close cancels first), and the stop-loss of an entry filled beside such a sell."""

    def close(s: Strategy, c: Candle) -> None:
        _reducing(s, c)
        s.close()

    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=1), 2: lambda s, c: s.sell(qty=1, price=105), 3: close}))
    for _ in range(5):
        rig.bar(100, 101, 99, 100)
    assert rig.of(OrderDenied) == [] and rig.engine.portfolio.position(INST.id).is_flat
    assert [c.reason for c in rig.of(OrderCanceled)] == ["canceled by request"]  # the sell, before the close

    def entry_and_sell(s: Strategy, c: Candle) -> None:
        s.buy(qty=1, price=99, stop_loss=95)
        s.sell(qty=1, price=105)
        _reducing(s, c)

    rig = Rig(Scripted({0: entry_and_sell}))
    rig.bar(100, 101, 99.5, 100)
    rig.bar(100, 101, 98.5, 100)  # the entry fills at 99: its stop goes, REDUCING or not
    rig.bar(99, 99, 80, 82)
    assert rig.of(OrderDenied) == []
    assert [f.client_order_id[-3:] for f in rig.of(OrderFilled)][-1] == "-sl"
    assert rig.engine.portfolio.position(INST.id).is_flat


def test_a_resting_flip_is_trimmed_only_once_it_opened_the_new_position() -> None:
    """A sell of 2 with exits, long 1, filled 1 (now flat): its rest was canceled as if the part that only
    closed the long were a position, and its exits went out for a position that did not exist."""
    rig = Rig(
        Scripted(
            {
                0: lambda s, c: s.buy(qty=1),
                2: lambda s, c: s.sell(qty=2, price=101, stop_loss=104, take_profit=96),
            }
        ),
        fill_model=FillModel(maker_fee=Decimal(0), taker_fee=Decimal(0), max_participation=0.1),
    )
    rig.bar(100, 100, 100, 100, v=100)
    rig.bar(100, 100, 100, 100, v=100)  # long 1
    rig.bar(100, 100.5, 99.5, 100, v=100)
    rig.bar(100, 101.5, 100, 101, v=10)  # 1 of the 2 sells at 101: flat
    assert rig.engine.portfolio.position(INST.id).is_flat and rig.of(OrderCanceled) == []
    rig.bar(101, 101.5, 100.5, 101, v=5)  # 0.5 more: short 0.5, the rest (0.5) is canceled
    flip = next(o for o in rig.engine.orders.orders.values() if o.tag == "" and o.qty == 2)
    assert flip.status is OrderStatus.CANCELED and flip.filled_qty == Decimal("1.500")
    assert rig.engine.portfolio.position(INST.id).qty == Decimal("-0.500")


def test_a_flips_exits_cover_what_it_opened_and_a_reducing_entrys_exits_are_not_sent() -> None:
    """Long 1, then sell 2 with a stop and target: the exits were sized 2 for a short of 1. Long 2, then
    sell 1 with a stop and target: two reduce-only buys were sent for a long (a spot venue buys)."""
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=1), 2: lambda s, c: s.sell(qty=2, stop_loss=110, take_profit=90)})
    )
    for _ in range(4):
        rig.bar(100, 101, 99, 100)
    exits = [(o.client_order_id[-3:], o.qty) for o in rig.of(OrderSubmitted) if o.reduce_only]
    assert exits == [("-sl", Decimal("1.000")), ("-tp", Decimal("1.000"))]
    assert rig.engine.portfolio.position(INST.id).qty == Decimal(-1)

    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=2), 2: lambda s, c: s.sell(qty=1, stop_loss=110, take_profit=90)})
    )
    for _ in range(4):
        rig.bar(100, 101, 99, 100)
    assert [o for o in rig.of(OrderSubmitted) if o.reduce_only] == []
    assert rig.engine.portfolio.position(INST.id).qty == Decimal(1)


def test_a_quantity_of_zero_or_below_halts_the_bot_saying_so() -> None:
    """buy(qty=0) and buy(qty=-1) returned None and sent nothing, with no event: a silent bug."""
    for qty in (0, -1):
        rig = Rig(Scripted({0: lambda s, c, q=qty: s.buy(qty=q)}))
        rig.bar(100, 101, 99, 100)
        (failed,) = rig.of(StrategyFailed)
        assert f"qty must be positive, got {qty}" in failed.error
    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=0.0001)}))  # below the 0.001 lot: nothing, no halt
    rig.bar(100, 101, 99, 100)
    assert rig.of(StrategyFailed) == [] and rig.of(OrderSubmitted) == []


def test_an_absurd_quantity_or_price_halts_the_bot_naming_it() -> None:
    # the decimal context overflowed rounding it: "InvalidOperation: [<class 'decimal.InvalidOperation'>]"
    for order in (lambda s, c: s.buy(qty=1e30), lambda s, c: s.buy(qty=1, price=1e40)):
        rig = Rig(Scripted({0: order}))
        rig.bar(100, 101, 99, 100)
        (failed,) = rig.of(StrategyFailed)
        assert "is too large to round to a step of" in failed.error, failed.error
        assert rig.of(OrderSubmitted) == []


def test_what_a_bot_holds_elsewhere_and_taking_its_strategy_out() -> None:
    # a bot moved to another symbol would leave what it holds and has working to no strategy
    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=1), 1: lambda s, c: s.buy(qty=1, price=98)}))
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)  # the market buy fills at this open; the limit at 98 rests
    elsewhere = rig.engine.held_elsewhere(StrategyId("bot"), InstrumentId(INST.id.venue, "ETH/USDT"))
    assert elsewhere[0] == "1 BTC/USDT" and elsewhere[1].startswith("order ") and len(elsewhere) == 2
    assert rig.engine.held_elsewhere(StrategyId("bot"), INST.id) == []
    rig.engine.remove_strategy(StrategyId("bot"))
    assert "bot" not in rig.engine.bots and rig.engine._routes == {}
    seen = len(rig.strategy.seen)  # type: ignore[attr-defined]
    rig.bar(100, 101, 99, 100)  # a candle reaches no one now
    assert len(rig.strategy.seen) == seen  # type: ignore[attr-defined]
    assert rig.engine.portfolio.bot_size(StrategyId("bot"), INST.id) == 1.0  # the books stay the bot's
