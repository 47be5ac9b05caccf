"""A spot backtest books fees and dust as live trading does: Binance and Bybit spot charge a buy's fee
in the coin bought, so the account holds less than was bought, the exits sell whole lot steps of what
it holds, and the dust left is written off the bot's books (it stays in the account). Backtests charged
every fee in the quote currency: a spot backtest held coins a live account would not have."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.fill_model import FillModel
from smc_agent.backtest.runner import BacktestConfig, run_backtest
from smc_agent.backtest.trades import build_trades
from smc_agent.core.events import OrderCanceled, OrderFilled
from smc_agent.strategy.smc_structure import SmcStructure
from tests._shared import shared_file
from tests.engine.harness import INST, Rig, Scripted

D = Decimal


def test_a_spot_round_trip_holds_what_the_account_holds_and_writes_off_the_dust() -> None:
    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=1.234, stop_loss=90)}), spot=True)
    for _ in range(3):
        rig.bar(100, 101, 99, 100)
    book = rig.engine.portfolio
    held = D("1.234") - D("1.234") * D("0.002")  # the 0.2% taker fee, paid in BTC
    assert book.position(INST.id).qty == held == rig.venue.positions[INST.id]
    stop = next(o for o in rig.engine.orders.open_orders() if o.client_order_id.endswith("-sl"))
    assert stop.qty == D("1.231")  # whole lot steps (0.001) of what is held
    rig.bar(100, 100, 89, 95)  # the stop fills at 90
    buy, sell = rig.of(OrderFilled)
    assert (buy.fee, buy.fee_currency, sell.fee_currency) == (D("1.234") * D("0.002"), "BTC", "USDT")
    dust = held - D("1.231")
    assert (sell.written_off, sell.written_off_cost) == (dust, dust * D(100))
    assert book.position(INST.id).is_flat and rig.engine.orders.open_orders() == []
    assert rig.venue.positions[INST.id] == dust  # the account keeps it; no order could sell it
    assert book.cash == rig.venue.cash  # every cash flow booked as the account saw it
    (trade,) = build_trades([buy, sell])
    assert trade.traded_qty == held and trade.exit_price == D(90)
    assert trade.fees == buy.fee * D(100) + sell.fee
    assert trade.pnl == book.cash - D(100_000) == D(90) * D("1.231") - D(100) * D("1.234") - sell.fee


def test_a_spot_backtest_on_real_data_ends_every_trade_flat_and_its_trades_add_up_to_its_equity() -> None:
    frame = pd.read_csv(shared_file("ohlcv", "binance_2024", "binance_spot_BTCUSDT_15m.csv"))
    data = CandleData.from_frame(frame, venue="binance", symbol="BTC/USDT", timeframe="15m")
    result = run_backtest(SmcStructure(), data, BacktestConfig(spot=True))
    buys = [f for f in result.fills if f.side.value == "buy"]
    assert buys and {f.fee_currency for f in buys} == {"BTC"}
    assert {f.fee_currency for f in result.fills if f not in buys} == {"USDT"}
    assert len(result.trades) > 50 and result.open_position is None
    assert sum(1 for f in result.fills if f.written_off) == len(result.trades)  # each left dust, gone
    pnl = sum((t.pnl for t in result.trades), D(0))
    assert abs(float(pnl) - (float(result.equity[-1]) - 10_000)) < 1e-6
    assert result.equity[-1] == result.stats["final_equity"]


CAPPED = FillModel(maker_fee=D("0.001"), taker_fee=D("0.002"), max_participation=0.01, take_profit="limit")


def test_a_spot_accounts_exits_never_sell_the_dust_written_off() -> None:
    """A round trip leaves 0.000532 BTC of dust, written off; later entry A's stop still asks 0.998
    after its target sold 0.5, so A's and B's stops together ask more than the books hold. The second
    stop sold what the account held, written-off dust included (0.498532, not a whole lot): the bot
    ended short on a spot account and never flat again."""
    strategy = Scripted(
        {
            0: lambda s, c: s.buy(qty=1.234, stop_loss=90),
            3: lambda s, c: s.buy(qty=1.0, stop_loss=90, take_profit=110),
            5: lambda s, c: s.buy(qty=1.0, stop_loss=90, take_profit=120),
        }
    )
    rig = Rig(strategy, fill_model=CAPPED, spot=True)
    for bar in (
        (100, 100, 100, 100, 1000),
        (100, 101, 99, 100, 1000),  # the first entry fills 1.234
        (100, 100, 89, 95, 1000),  # its stop: 0.000532 of dust written off
        (100, 100, 100, 100, 1000),  # A is sent
        (100, 101, 99, 100, 1000),  # A fills
        (100, 111, 99, 105, 50),  # A's target fills 0.5 of 0.998 (the volume cap); B is sent
        (105, 106, 104, 105, 1000),  # B fills
        (105, 106, 85, 88, 1000),  # both stops
    ):
        rig.bar(*bar[:4], v=bar[4])
    last = rig.of(OrderFilled)[-1]
    assert (last.qty, strategy.flat) == (D("0.498"), True)
    assert rig.venue.positions[INST.id] == D("0.000532")  # the dust, still in the account


def test_a_spot_account_keeps_what_a_partly_filled_entry_added_below_the_lot_step() -> None:
    """A resting entry filled one lot step (0.001 less its maker fee: 0.000999, below the step) when the stop
    of the position sold the rest: what is left is the entry's, not dust to write off."""
    strategy = Scripted({0: lambda s, c: s.buy(qty=1, stop_loss=90), 1: lambda s, c: s.buy(qty=1, price=95)})
    rig = Rig(strategy, fill_model=CAPPED, spot=True)
    rig.bar(100, 100, 100, 100, v=1000)
    rig.bar(100, 101, 99, 100, v=1000)  # the first entry fills 1 (holds 0.998); the second is sent
    rig.bar(100, 100, 94.5, 95, v=0.1)  # the second fills one lot step (1% of the volume)
    rig.bar(96, 96, 89, 90, v=99.8)  # the stop sells 0.998, all the volume cap leaves
    stop = rig.of(OrderFilled)[-1]
    assert stop.client_order_id.endswith("-sl") and stop.written_off is None
    assert rig.engine.portfolio.position(INST.id).qty == D("0.000999")


def test_a_spot_buy_filled_above_the_price_it_was_checked_at_never_overdraws_the_account() -> None:
    # checked against the close (100), filled at the next open (105): the account paid 105 x 1,000
    # out of 100,000 and held -5,000 USDT, which no spot venue allows. It gets what its cash buys
    rig = Rig(Scripted({0: lambda s, c: s.buy(qty=1_000, stop_loss=90)}), spot=True)
    rig.bar(100, 101, 99, 100)
    rig.bar(105, 106, 104, 105)
    (buy,) = rig.of(OrderFilled)
    assert buy.price == D(105) and buy.qty == D("952.380")  # whole lots of 100,000 / 105
    assert rig.venue.cash == D(100_000) - buy.qty * D(105) >= 0
    (canceled,) = [e for e in rig.of(OrderCanceled) if e.client_order_id == buy.client_order_id]
    assert "insufficient balance" in canceled.reason
    assert rig.engine.portfolio.cash == rig.venue.cash
    stop = next(o for o in rig.engine.orders.open_orders() if o.client_order_id.endswith("-sl"))
    assert stop.qty <= buy.qty - buy.fee  # the stop protects what was bought, no more


def test_two_spot_buys_filled_together_share_the_cash_there_is() -> None:
    # each was checked alone against the close (950 x 100 <= 100,000); filled at 105 one after the
    # other, the second gets what the first left
    def both(s: object, c: object) -> None:
        s.buy(qty=950, stop_loss=90, tag="a")  # type: ignore[attr-defined]
        s.buy(qty=950, stop_loss=90, tag="b")  # type: ignore[attr-defined]

    rig = Rig(Scripted({0: both}), spot=True)
    rig.bar(100, 101, 99, 100)
    rig.bar(105, 106, 104, 105)
    first, second = (f for f in rig.of(OrderFilled) if f.side.value == "buy")
    assert first.qty == D(950) and second.qty == D("2.380")  # 250 USDT left buys 2.380 at 105
    assert rig.venue.cash == D(100_000) - D("952.380") * D(105) >= 0
    (canceled,) = [e for e in rig.of(OrderCanceled) if e.client_order_id == second.client_order_id]
    assert "insufficient balance" in canceled.reason
