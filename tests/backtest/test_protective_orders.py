"""A position keeps its exits: protective orders are placed, finish filling, and a loss they take
counts for the breakers (each case was a defect found by driving the backtester as a user)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

import numpy as np

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.fill_model import FillModel
from smc_agent.backtest.runner import BacktestConfig, BacktestResult, run_backtest
from smc_agent.core.candle import Candle
from smc_agent.core.enums import LiquiditySide, OrderSide, TradingState
from smc_agent.risk.config import RiskConfig
from smc_agent.strategy.base import Strategy

D = Decimal
H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
Bar = tuple[float, float, float, float, float]  # open, high, low, close, volume


class Script(Strategy):
    def __init__(self, script: dict[int, Callable[[Strategy], object]]) -> None:
        super().__init__()
        self.script = script

    def on_candle(self, candle: Candle) -> None:
        action = self.script.get((candle.open_time - T0) // H)
        if action is not None:
            action(self)


def hourly(bars: Sequence[Bar]) -> CandleData:
    o, h, low, c, v = (np.array([b[k] for b in bars], dtype=np.float64) for k in range(5))
    return CandleData("sim", "BTC/USDT", "1h", T0 + np.arange(len(bars), dtype=np.int64) * H, o, h, low, c, v)


def run(
    script: dict[int, Callable[[Strategy], object]],
    bars: Sequence[Bar],
    *,
    risk: RiskConfig | None = None,
    fill_model: FillModel | None = None,
) -> BacktestResult:
    config = BacktestConfig(
        risk=risk or RiskConfig(),  # the live defaults unless a test says otherwise
        fill_model=fill_model or FillModel(maker_fee=D(0), taker_fee=D(0)),
        price_increment=D("0.01"),
    )
    return run_backtest(Script(script), hourly(bars), config)


def sells(result: BacktestResult) -> list[tuple[str, Decimal, Decimal]]:
    return [(f.client_order_id[-2:], f.qty, f.price) for f in result.fills if f.side is OrderSide.SELL]


FLAT: Bar = (100, 101, 99, 100, 1000)
DROP: Bar = (100, 101, 90, 92, 1000)  # through a stop at 95
LOW: Bar = (92, 93, 91, 92, 1000)


def test_an_hourly_entry_gets_its_stop_loss_under_the_live_risk_limits() -> None:
    # the entry fills at the next hour's open, 1 h after the last price: its children were refused as
    # "reference price is stale" (limit 15 min) and the position stayed open through the drop
    result = run({0: lambda s: s.buy(qty=1, stop_loss=95, take_profit=110)}, [FLAT, FLAT, FLAT, DROP, LOW])
    assert result.denials == []
    assert sells(result) == [("sl", D(1), D(95))]
    assert result.position[-1] == 0.0


def test_equal_stop_losses_of_two_entries_both_stand() -> None:
    # the second stop equals the first (same side, qty, trigger): it was refused as a duplicate order
    def two_entries(s: Strategy) -> None:
        s.buy(qty=1, stop_loss=95, tag="a")
        s.buy(qty=1, stop_loss=95, tag="b")

    result = run({0: two_entries}, [FLAT, FLAT, FLAT, DROP, LOW])
    assert result.denials == []
    assert sells(result) == [("sl", D(1), D(95)), ("sl", D(1), D(95))]
    assert result.position[-1] == 0.0


def test_what_a_volume_cap_leaves_of_a_triggered_stop_fills_at_the_next_opens() -> None:
    # 10% of 10 per bar: the stop sells 1 at its trigger, then 1 at each following open; the rest
    # used to wait for the price to touch the trigger again (never, here) with 2 units open below it
    thin: list[Bar] = [(100, 101, 99, 100, 10)] * 4 + [(100, 101, 90, 95, 10)] + [(95, 96, 94, 95, 10)] * 4
    result = run(
        {0: lambda s: s.buy(qty=3, stop_loss=92, take_profit=110)},
        thin,
        risk=RiskConfig.permissive(),
        fill_model=FillModel(maker_fee=D(0), taker_fee=D(0), max_participation=0.1),
    )
    assert [f.qty for f in result.fills if f.side is OrderSide.BUY] == [D(1), D(1), D(1)]
    assert sells(result) == [("sl", D(1), D(92)), ("sl", D(1), D(95)), ("sl", D(1), D(95))]
    assert result.position[-1] == 0.0
    assert [o["status"] for o in result.orders if o["client_order_id"].endswith("-sl")] == ["filled"]


def test_a_loss_taken_by_the_closing_stop_trips_the_daily_loss_limit() -> None:
    # 80 x 100 = 8,000 of 10,000 equity; the stop at 95 gaps to 92: -640 = -6.4% (limit 5%). The
    # breaker used to look only while a position was open, so later entries went through
    risk = RiskConfig(max_reference_age_ms=10 * H, daily_loss_limit=D("0.05"), max_drawdown=None)
    gap: Bar = (92, 93, 91, 92, 1000)
    result = run(
        {0: lambda s: s.buy(qty=80, stop_loss=95), 3: lambda s: s.buy(qty=1, tag="later")},
        [FLAT, FLAT, gap, LOW, LOW, LOW],
        risk=risk,
    )
    assert sells(result) == [("sl", D(80), D(92))]
    (change,) = result.state_changes
    assert change.state is TradingState.REDUCING and change.reason.startswith("daily_loss_limit")
    tags = {o["client_order_id"]: o["tag"] for o in result.orders}
    assert [(d.check, tags[d.client_order_id]) for d in result.denials] == [("trading_state", "later")]


def test_a_stop_limit_marketable_where_it_triggers_fills_there_as_taker() -> None:
    # buy stop 103, limit 103.5: triggered at 103 the limit is marketable, so it takes 103 (it was
    # filled at its limit 103.5 and charged the maker fee)
    result = run(
        {0: lambda s: s.buy(qty=1, trigger=103, price=103.5)},
        [FLAT, FLAT, (100, 104, 99, 103, 1000), FLAT],
        risk=RiskConfig.permissive(),
        fill_model=FillModel(maker_fee=D("0.001"), taker_fee=D("0.002")),
    )
    (fill,) = result.fills
    assert (fill.price, fill.liquidity, fill.fee) == (D(103), LiquiditySide.TAKER, D("0.206"))


def test_a_stop_limit_gapped_past_its_limit_rests_at_the_limit() -> None:
    # the bar opens at 106, above the limit 103.5: not marketable; the low of 103 reaches the limit
    result = run(
        {0: lambda s: s.buy(qty=1, trigger=103, price=103.5)},
        [FLAT, FLAT, (106, 107, 103, 104, 1000), FLAT],
        risk=RiskConfig.permissive(),
        fill_model=FillModel(maker_fee=D("0.001"), taker_fee=D("0.002")),
    )
    (fill,) = result.fills
    assert (fill.price, fill.liquidity) == (D("103.5"), LiquiditySide.MAKER)


def test_a_triggered_stop_limit_resting_at_its_limit_takes_a_better_open_later() -> None:
    # sell stop 95, limit 96: triggered at 95 the limit is not marketable and rests; the next bar opens at
    # 98, through the limit: filled there as taker (it was filled at its limit 96 as maker, like a stop)
    result = run(
        {0: lambda s: s.sell(qty=1, trigger=95, price=96)},
        [FLAT, FLAT, (97, 97, 94, 95, 1000), (98, 99, 97, 98, 1000), FLAT],
        risk=RiskConfig.permissive(),
        fill_model=FillModel(maker_fee=D("0.001"), taker_fee=D("0.002")),
    )
    (fill,) = result.fills
    assert (fill.price, fill.liquidity) == (D(98), LiquiditySide.TAKER)


class _OwnStop(Strategy):
    """Places its position's stop itself when its entry fills (not the engine's bracket)."""

    def __init__(self) -> None:
        super().__init__()
        self.stops: list[object] = []

    def on_candle(self, candle: Candle) -> None:
        if candle.open_time == T0:
            self.buy(qty=1, tag="entry")

    def on_order_filled(self, event: object, **kwargs: object) -> None:
        if not self.stops:
            self.stops.append(self.sell(qty=1, trigger=95, tag="own_stop"))


def test_an_order_sent_from_a_fill_callback_on_hourly_candles_is_not_stale() -> None:
    # the fill (at the bar's open) was the reference price, one bar older than the clock (at the bar's
    # close): every order a strategy sent from on_order_filled on 30m candles or longer was refused as
    # "reference price is stale" (limit 15 min), and its position rode on without the stop
    strategy = _OwnStop()
    config = BacktestConfig(
        risk=RiskConfig(), fill_model=FillModel(maker_fee=D(0), taker_fee=D(0)), price_increment=D("0.01")
    )
    result = run_backtest(strategy, hourly([FLAT, FLAT, FLAT, DROP, LOW]), config)
    assert result.denials == [] and strategy.stops != [None]
    assert [(f.side, f.qty, f.price) for f in result.fills] == [
        (OrderSide.BUY, D(1), D(100)),
        (OrderSide.SELL, D(1), D(95)),
    ]
    assert result.position[-1] == 0.0


def test_an_entry_the_venue_rejected_is_not_drawn_on_the_report() -> None:
    # a strategy annotates what it acted on when buy/sell hands back an order id; a spot venue rejects
    # a short only then: the SMC strategy's report drew 109 short entries that never traded
    def both_ways(s: Strategy) -> None:
        for side, order in (("short", s.sell(qty=1, tag="short")), ("long", s.buy(qty=1, tag="long"))):
            s.annotate("ob", top=101, bottom=99, direction=-1 if side == "short" else 1, order=order)

    config = BacktestConfig(
        risk=RiskConfig(),
        fill_model=FillModel(maker_fee=D(0), taker_fee=D(0)),
        price_increment=D("0.01"),
        spot=True,
    )
    result = run_backtest(Script({0: both_ways}), hourly([FLAT, FLAT, FLAT]), config)
    assert [o["status"] for o in result.orders] == ["rejected", "filled"]
    assert [a["direction"] for a in result.annotations] == [1]
