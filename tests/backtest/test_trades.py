"""The position left open after the last fill, on hand-made fills (figures worked out by hand)."""

from __future__ import annotations

from decimal import Decimal

from smc_agent.backtest.trades import build_trades, open_position
from smc_agent.core.enums import LiquiditySide, OrderSide
from smc_agent.core.events import OrderFilled
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId

IID = InstrumentId("binance", "BTC/USDT")
SID = StrategyId("s-1")
D = Decimal


def fill(ts: int, side: OrderSide, qty: str, price: str, fee: str) -> OrderFilled:
    return OrderFilled(
        ts_event=ts,
        ts_init=ts,
        strategy_id=SID,
        instrument_id=IID,
        client_order_id=ClientOrderId(f"c{ts}"),
        venue_order_id=None,
        trade_id=TradeId(f"t{ts}"),
        side=side,
        qty=D(qty),
        price=D(price),
        fee=D(fee),
        fee_currency="USDT",
        liquidity=LiquiditySide.TAKER,
    )


BUY, SELL = OrderSide.BUY, OrderSide.SELL


def test_open_long_with_adds_and_a_partial_exit() -> None:
    fills = [
        fill(1, BUY, "2", "100", "0.2"),
        fill(2, BUY, "2", "110", "0.22"),  # avg (200 + 220) / 4 = 105
        fill(3, SELL, "1", "120", "0.12"),  # realises (120 - 105) * 1 = 15; avg stays 105
        fill(4, BUY, "1", "140", "0.14"),  # avg (3 * 105 + 140) / 4 = 113.75
    ]
    assert build_trades(fills) == []  # never flat: no round trip
    pos = open_position(fills, IID, D("130"), {"c1": "entry"})
    assert pos is not None
    assert (pos.side, pos.qty, pos.entry_time, pos.entry_tag) == (BUY, D(4), 1, "entry")
    assert pos.avg_price == D("113.75")
    assert pos.realized_pnl == D(15)
    assert pos.unrealized_pnl == D(65)  # (130 - 113.75) * 4
    assert pos.fees == D("0.68")  # 0.2 + 0.22 + 0.12 + 0.14
    # cash -200.2 -220.22 +119.88 -140.14 = -440.68, plus 4 held at 130 = 79.32 = 15 + 65 - 0.68
    assert pos.pnl == D("79.32")


def test_a_flip_closes_a_trade_and_leaves_the_rest_open_with_its_share_of_the_fee() -> None:
    fills = [fill(1, BUY, "1", "100", "0.1"), fill(2, SELL, "3", "90", "0.27")]
    (trade,) = build_trades(fills)
    assert trade.pnl == D("-10.19")  # (90 - 100) * 1 - 0.1 - 0.27 / 3
    pos = open_position(fills, IID, D("80"))
    assert pos is not None
    assert (pos.side, pos.qty, pos.avg_price, pos.entry_time) == (SELL, D(2), D(90), 2)
    assert pos.fees == D("0.18")  # 2 / 3 of the flip's fee
    assert pos.unrealized_pnl == D(20)  # short 2 from 90 to 80
    # cash -100.1 + 269.73 = 169.63, less 2 owed at 80 = 9.63 = trade -10.19 + open 19.82
    assert trade.pnl + pos.pnl == D("9.63")


def test_flat_at_the_end_is_no_open_position() -> None:
    fills = [fill(1, BUY, "1", "100", "0.1"), fill(2, SELL, "1", "101", "0.101")]
    assert open_position(fills, IID, D("120")) is None
    assert open_position([], IID, D("120")) is None
    assert open_position(fills[:1], InstrumentId("binance", "ETH/USDT"), D("120")) is None


def test_a_trade_that_scales_in_and_out_reproduces_its_pnl_from_its_own_fields() -> None:
    """Buy 0.1, sell 0.05, buy 0.05, sell 0.1: the row said qty 0.1 (the largest size held) with prices
    averaged over the 0.15 bought and sold, so (exit - entry) * qty was not its PnL."""
    fills = [
        fill(1, BUY, "0.1", "100", "0"),
        fill(2, SELL, "0.05", "110", "0"),
        fill(3, BUY, "0.05", "120", "0"),
        fill(4, SELL, "0.1", "130", "0"),
    ]
    (trade,) = build_trades(fills)
    assert (trade.qty, trade.traded_qty) == (D("0.1"), D("0.15"))
    # bought 10 + 6 = 16 for 0.15, sold 5.5 + 13 = 18.5: gross 2.5
    assert trade.gross_pnl == D("2.5")
    assert abs((trade.exit_price - trade.entry_price) * trade.traded_qty - trade.gross_pnl) < D("1e-20")
    assert abs((trade.exit_price - trade.entry_price) * trade.qty - trade.gross_pnl) > 0  # not qty's
