from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.fill_model import FillModel
from smc_agent.backtest.runner import BacktestConfig, run_backtest
from smc_agent.core.enums import LiquiditySide, OrderSide
from smc_agent.core.errors import ConfigError
from smc_agent.core.events import OrderCanceled, OrderFilled, OrderRejected
from tests.engine.harness import INST, Rig, Scripted

D = Decimal


def test_market_order_fills_at_next_open_with_taker_fee() -> None:
    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=1)}))
    rig.bar(100, 101, 99, 100.5)
    assert rig.of(OrderFilled) == []
    rig.bar(102, 103, 101, 102.5)
    (fill,) = rig.of(OrderFilled)
    assert (fill.price, fill.qty, fill.liquidity) == (D("102"), D("1.000"), LiquiditySide.TAKER)
    assert fill.fee == D("102") * D("0.002")
    assert rig.engine.portfolio.position(rig.strategy.instrument_id).qty == 1


def test_limit_fills_on_touch_at_limit_as_maker_or_at_open_when_gapped() -> None:
    rig = Rig(Scripted({0: lambda s, c: (s.buy(qty=1, price=98), s.sell(qty=1, price=110))}))
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 100.5, 98.5, 99)  # does not touch 98
    assert rig.of(OrderFilled) == []
    rig.bar(99, 99.5, 97.9, 98.5)  # touches 98
    (fill,) = rig.of(OrderFilled)
    assert (fill.side, fill.price, fill.liquidity) == (OrderSide.BUY, D("98"), LiquiditySide.MAKER)
    assert fill.fee == D("98") * D("0.001")
    rig.bar(111, 112, 110.5, 111)  # opens above the sell limit: filled at the better open
    sells = [f for f in rig.of(OrderFilled) if f.side is OrderSide.SELL]
    assert [(f.price, f.liquidity) for f in sells] == [(D("111"), LiquiditySide.TAKER)]


def test_stop_loss_and_take_profit_in_one_bar_resolve_stop_first() -> None:
    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=1, stop_loss=95, take_profit=105)}))
    rig.bar(100, 100, 100, 100)
    rig.bar(100, 100.5, 99.5, 100)  # entry at the open 100, children placed
    rig.bar(100, 106, 94, 100)  # both levels inside the bar
    exits = [f for f in rig.of(OrderFilled) if f.side is OrderSide.SELL]
    assert [(f.client_order_id.endswith("-sl"), f.price) for f in exits] == [(True, D("95"))]
    canceled = rig.of(OrderCanceled)
    assert [c.client_order_id.endswith("-tp") for c in canceled] == [True]
    assert rig.engine.portfolio.position(rig.strategy.instrument_id).is_flat


def test_nearest_first_rule_takes_the_level_closer_to_the_open() -> None:
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=1, stop_loss=95, take_profit=101)}),
        fill_model=FillModel(maker_fee=D(0), taker_fee=D(0), intrabar="nearest_first"),
    )
    rig.bar(100, 100, 100, 100)
    rig.bar(100, 100.5, 99.5, 100)
    rig.bar(100, 106, 94, 100)
    exits = [f for f in rig.of(OrderFilled) if f.side is OrderSide.SELL]
    assert [(f.client_order_id.endswith("-tp"), f.price) for f in exits] == [(True, D("101"))]


def test_stop_gapped_through_fills_at_open() -> None:
    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=1, stop_loss=95)}))
    rig.bar(100, 100, 100, 100)
    rig.bar(100, 100.5, 99.5, 100)
    rig.bar(90, 91, 89, 90)
    (exit_,) = [f for f in rig.of(OrderFilled) if f.side is OrderSide.SELL]
    assert exit_.price == D("90")


def test_stop_entry_and_slippage() -> None:
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=1, trigger=102)}),
        fill_model=FillModel(maker_fee=D(0), taker_fee=D(0), slippage_bps=10),
    )
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101.5, 99, 101)
    assert rig.of(OrderFilled) == []
    rig.bar(101, 103, 100, 102)
    (fill,) = rig.of(OrderFilled)
    assert fill.price == D("102.11")  # trigger + 10 bp = 102.102, rounded up to the tick (against the buyer)


def test_volume_participation_gives_partial_fills() -> None:
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=5)}),
        fill_model=FillModel(maker_fee=D(0), taker_fee=D(0), max_participation=0.1),
    )
    rig.bar(100, 100, 100, 100, v=100)
    rig.bar(100, 100, 100, 100, v=20)  # 2 units
    rig.bar(100, 100, 100, 100, v=20)  # 2 units
    rig.bar(100, 100, 100, 100, v=50)  # last 1
    assert [f.qty for f in rig.of(OrderFilled)] == [D("2.000"), D("2.000"), D("1.000")]
    assert [f.is_last for f in rig.of(OrderFilled)] == [False, False, True]


def test_venue_rejects_bad_precision_and_insufficient_margin() -> None:
    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=1000)}), cash="1000")
    rig.bar(100, 100, 100, 100)
    (rejected,) = rig.of(OrderRejected)
    assert "insufficient margin" in rejected.reason


def _target_exits(take_profit: str, *bars: tuple[float, ...]) -> list[tuple[D, D, LiquiditySide]]:
    """A long of 1 at the open 100 with its target at 105 (taker 0.2%, maker 0.1%, 10 bp slippage),
    then ``bars``: the target's fills as (price, qty, liquidity)."""
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=1, take_profit=105)}),
        fill_model=FillModel(
            maker_fee=D("0.001"),
            taker_fee=D("0.002"),
            slippage_bps=10,
            max_participation=0.1,
            take_profit=take_profit,
        ),
    )
    rig.bar(100, 100, 100, 100)
    rig.bar(100, 100.5, 99.5, 100)  # entry at the open 100 (volume 100: the cap lets 10 through)
    for bar in bars:
        rig.bar(*bar)
    exits = [f for f in rig.of(OrderFilled) if f.side is OrderSide.SELL]
    for f in exits:
        rate = D("0.002") if f.liquidity is LiquiditySide.TAKER else D("0.001")
        assert f.fee == f.qty * f.price * rate
    return [(f.price, f.qty, f.liquidity) for f in exits]


def test_take_profit_executes_as_the_spot_venues_do_a_market_order_at_its_price() -> None:
    # Binance and Bybit spot trigger the engine's target as a market order: taker fee, slipped
    assert _target_exits("market", (101, 105.5, 100.5, 104)) == [
        (
            D("104.89"),
            D("1.000"),
            LiquiditySide.TAKER,
        )  # 105 - 10 bp = 104.895, down to the tick (against the seller)
    ]
    assert _target_exits("limit", (101, 105.5, 100.5, 104)) == [(D("105"), D("1.000"), LiquiditySide.MAKER)]


def test_take_profit_gapped_through_fills_at_the_open_slipped() -> None:
    assert _target_exits("market", (108, 109, 107, 108)) == [(D("107.89"), D("1.000"), LiquiditySide.TAKER)]


def test_what_a_volume_cap_leaves_of_a_triggered_take_profit_sells_at_the_next_open() -> None:
    # triggered, it is a market order: its rest goes at the next open even below the target; a limit
    # would wait for the price to come back
    touched, fallen = (101, 105.5, 100.5, 104, 5.0), (103, 103.5, 102, 103, 100.0)
    assert _target_exits("market", touched, fallen) == [
        (D("104.89"), D("0.500"), LiquiditySide.TAKER),
        (D("102.89"), D("0.500"), LiquiditySide.TAKER),  # 103 - 10 bp = 102.897, down to the tick
    ]
    assert _target_exits("limit", touched, fallen) == [(D("105"), D("0.500"), LiquiditySide.MAKER)]


def test_take_profit_fill_rule_is_checked() -> None:
    with pytest.raises(ConfigError, match="take-profit fill must be one of"):
        FillModel(take_profit="maker")


def test_a_bar_opening_through_the_target_takes_it_there_even_under_stop_first() -> None:
    """Stop 95, target 110, a bar opening at 115 that then falls to 90: the open comes first in any bar
    (the stop-first rule is for two levels inside one bar); it booked the loss at 95."""
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=1, stop_loss=95, take_profit=110)}),
        fill_model=FillModel(maker_fee=D(0), taker_fee=D(0)),
    )
    rig.bar(100, 100, 100, 100)
    rig.bar(100, 100.5, 99.5, 100)
    rig.bar(115, 116, 90, 91)
    exits = [f for f in rig.of(OrderFilled) if f.side is OrderSide.SELL]
    assert [(f.client_order_id[-2:], f.price) for f in exits] == [("tp", D("115"))]


def test_the_exits_of_a_resting_entry_filled_at_the_open_see_the_whole_bar() -> None:
    """A buy limit at 100 filled at the open 99: its target at 105 was matched as a stop only, though the
    bar went on to 110 (a market entry at the same open had its target filled)."""
    for entry in (
        lambda s, c: s.buy(qty=1, price=100, take_profit=105),
        lambda s, c: s.buy(qty=1, take_profit=105),
    ):
        rig = Rig(Scripted({0: entry}), fill_model=FillModel(maker_fee=D(0), taker_fee=D(0)))
        rig.bar(100.5, 101, 100.2, 100.5)
        rig.bar(99, 110, 98.5, 108)
        fills = [(f.side, f.price) for f in rig.of(OrderFilled)]
        assert fills == [(OrderSide.BUY, D("99")), (OrderSide.SELL, D("105"))]


def test_the_volume_cap_is_for_the_candle_not_for_each_order() -> None:
    """Three orders in a candle of volume 10 at 10% participation filled 1 each: 30% of its volume."""
    buys = Scripted({0: lambda s, c: [s.buy(qty=1, tag=f"b{i}") for i in range(3)]})
    rig = Rig(buys, fill_model=FillModel(maker_fee=D(0), taker_fee=D(0), max_participation=0.1))
    rig.bar(100, 100, 100, 100, v=10)
    rig.bar(100, 100, 100, 100, v=10)
    assert sum(f.qty for f in rig.of(OrderFilled)) == D("1.000")
    rig.bar(100, 100, 100, 100, v=20)
    assert sum(f.qty for f in rig.of(OrderFilled)) == D("3.000")


def test_a_resting_entry_filled_in_part_is_trimmed_and_what_filled_gets_its_stop() -> None:
    """A buy limit of 5 at 100 (stop 95) filled 3 and the market left: the 3 held stayed without a stop
    for as long as the rest waited (the stop came only once the whole order filled)."""
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=5, price=100, stop_loss=95)}),
        fill_model=FillModel(maker_fee=D(0), taker_fee=D(0), max_participation=0.1),
    )
    rig.bar(101, 101, 100.5, 101)
    rig.bar(100.5, 101, 99.5, 100.5, v=30)  # 3 of 5 fill at 100
    rig.bar(104, 106, 103, 105)  # the market leaves
    rig.bar(96, 96, 80, 82)  # and falls through the stop
    entry, stop = rig.of(OrderFilled)
    assert (entry.qty, entry.price) == (D("3.000"), D("100"))
    assert stop.client_order_id.endswith("-sl") and (stop.qty, stop.price) == (D("3.000"), D("95"))
    (trimmed,) = [c for c in rig.of(OrderCanceled) if c.client_order_id == entry.client_order_id]
    assert trimmed.reason == "canceled by request"
    assert rig.engine.portfolio.position(INST.id).is_flat


def test_a_market_entry_filled_in_part_keeps_filling_and_gets_its_exits_when_done() -> None:
    # a market order does not rest: what a volume cap leaves of it fills at the next opens
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=3, stop_loss=90)}),
        fill_model=FillModel(maker_fee=D(0), taker_fee=D(0), max_participation=0.1),
    )
    rig.bar(100, 100, 100, 100)
    for _ in range(3):
        rig.bar(100, 101, 99, 100, v=10)
    assert [f.qty for f in rig.of(OrderFilled)] == [D("1.000")] * 3
    assert rig.of(OrderCanceled) == []
    assert [w.cmd.client_order_id[-3:] for w in rig.venue._working[INST.id]] == ["-sl"]


def test_a_spot_account_sells_only_the_coins_it_holds() -> None:
    """A sell that would open a short, or sell coins a close already sells, is refused; a position's stop
    and target are not counted against each other (they hold the coins once)."""

    def flip(s: Any, c: Any) -> None:
        s.close(tag="out")
        s.sell(qty=1, tag="short")  # what the close sells is not held twice

    rig = Rig(
        Scripted(
            {
                0: lambda s, c: s.sell(qty=1),
                1: lambda s, c: s.buy(qty=1, stop_loss=90, take_profit=120),
                3: flip,
            }
        ),
        spot=True,
    )
    for _ in range(5):
        rig.bar(100, 101, 99, 100)
    reasons = [r.reason for r in rig.of(OrderRejected)]
    assert len(reasons) == 2 and all(r.startswith("spot account: sells only the coins held") for r in reasons)
    assert "(0, 0 already on sale), not 1.000" in reasons[0]
    # the buy of 1 paid its 0.2% fee in the coin: the account holds 0.998, which the close sells
    assert "(0.998000, 0.998 already on sale), not 1.000" in reasons[1]
    assert rig.engine.portfolio.position(INST.id).is_flat  # long 1, then closed; never short
    with pytest.raises(ConfigError, match="a spot account has no leverage"):
        BacktestConfig(spot=True, leverage=D(2))


def test_a_spot_accounts_resting_sell_finds_no_coins_once_the_stop_sold_them() -> None:
    """A long with a stop, and a resting sell of all of it at 110: the stop sold the coins at 95, then
    the sell filled at 110 and the spot account ended short (checked only when placed). The buy of 1
    paid its 0.2% fee in the coin: the account holds 0.998."""
    rig = Rig(
        Scripted({0: lambda s, c: s.buy(qty=1, stop_loss=95), 2: lambda s, c: s.sell(qty=0.998, price=110)}),
        spot=True,
    )
    for _ in range(3):
        rig.bar(100, 101, 99, 100)
    rig.bar(100, 100, 94, 96)  # the stop
    rig.bar(111, 112, 110, 111)  # the sell's price
    assert rig.engine.portfolio.position(INST.id).is_flat
    assert [c.reason for c in rig.of(OrderCanceled)][-1].startswith("spot account: no coins left to sell")


def test_a_slipped_price_is_rounded_to_the_tick_against_the_taker_not_to_the_nearest() -> None:
    """Rounded to the nearest tick, a sell slipped 0.4 bp from 100 (99.996) filled at 100.00: the
    slippage was given back, and a target sold 10 bp under 105 (104.895) at 104.90, above the slipped
    price. Float noise must not cost a tick either: 1200 less 7 bp is 1199.1599999999999 in floats and
    780 plus 15 bp is 781.1700000000001, both exactly on the tick."""
    for side, open_, bps, price in (
        (OrderSide.SELL, 1200.0, 7, D("1199.16")),
        (OrderSide.BUY, 780.0, 15, D("781.17")),
    ):
        order = (lambda s, c: s.buy(qty=1)) if side is OrderSide.BUY else (lambda s, c: s.sell(qty=1))
        rig = Rig(
            Scripted({0: order}), fill_model=FillModel(maker_fee=D(0), taker_fee=D(0), slippage_bps=bps)
        )
        rig.bar(open_, open_, open_, open_)
        rig.bar(open_, open_ + 1, open_ - 1, open_)
        (fill,) = rig.of(OrderFilled)
        assert fill.price == price, (side, fill.price)
    rig = Rig(Scripted({0: lambda s, c: s.sell(qty=1)}), fill_model=FillModel(slippage_bps=0.4))
    rig.bar(100, 100, 100, 100)
    rig.bar(100, 101, 99, 100)
    (fill,) = rig.of(OrderFilled)
    assert fill.price == D("99.99")  # 99.996 down to the tick: the slippage does not vanish


def test_the_tick_guessed_from_csv_prices_fits_every_price_and_a_market_order_fills_at_the_open() -> None:
    # the tick was guessed from the closes only: whole-number closes made it 1, and an open of 100.37
    # filled at 100 (a price the candle never traded at), stops and targets rounded likewise
    rows = [(100.25, 101.5, 99.75, 100.0), (100.37, 103.0, 100.0, 102.0), (102.45, 103.0, 101.0, 102.0)]
    data = CandleData.from_frame(
        pd.DataFrame(
            {
                "timestamp_ms": [1_704_067_200_000 + i * 3_600_000 for i in range(len(rows))],
                "open": [r[0] for r in rows],
                "high": [r[1] for r in rows],
                "low": [r[2] for r in rows],
                "close": [r[3] for r in rows],
                "volume": 10.0,
            }
        ),
        venue="csv",
        symbol="BTC/USDT",
        timeframe="1h",
    )
    assert data.price_increment() == D("0.01")
    result = run_backtest(Scripted({0: lambda s, c: s.buy(qty=1)}), data, BacktestConfig())
    (fill,) = [f for f in result.fills if f.side is OrderSide.BUY]
    assert fill.price == D("100.37")
