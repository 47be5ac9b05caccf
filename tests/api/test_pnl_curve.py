"""The P&L curve of the status view (/v1/pnl equity_curve): realised PnL net of fees after each trade.
It was the running cash flow, which took a position's cost as a loss (-9999.77 on a 10,000 account with
a position open) and its sale as a gain. A fee counts where it was paid: a spot buy's fee in the coin
bought took coins, not cash (subtracted as quote currency it was a price of one coin too many: 10 DOGE
of fee counted as 10 USDT)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from smc_agent.api.queries import _pnl_curve


def test_a_fee_in_the_coin_bought_is_not_taken_from_the_cash_flow() -> None:
    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    trades = [  # buy 100 DOGE at 0.15 paying 0.1 DOGE; sell the 99.9 held at 0.16 paying 0.015984 USDT
        (t0, "buy", Decimal(100), Decimal("0.15"), Decimal("0.1"), "DOGE", "DOGE/USDT", "bot_a", "binance"),
        (
            t1,
            "sell",
            Decimal("99.9"),
            Decimal("0.16"),
            Decimal("0.015984"),
            "USDT",
            "DOGE/USDT",
            "bot_a",
            "binance",
        ),
    ]
    curve = _pnl_curve(trades)
    # the buy's fee, 0.1 DOGE at 0.15; the sale realises 99.9 * 0.01 and pays its fee
    assert [v for _, v in curve] == [
        Decimal("-0.015"),
        Decimal("0.999") - Decimal("0.015") - Decimal("0.015984"),
    ]
    legacy = [
        (t0, "buy", Decimal(1), Decimal(100), Decimal("0.1"), None, "BTC/USDT", None, "binance")
    ]  # fee=0 era rows
    assert _pnl_curve(legacy)[0][1] == Decimal("-0.1")


def test_covering_a_short_its_coin_fee_counts_at_its_value() -> None:
    """A short holds no coins: the buy covering it pays its fee in the coin, which the books count at
    its value; the curve of flat books ends at the realised PnL net of fees."""
    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    trades = [  # sell 100 DOGE at 0.16 paying 0.016 USDT; buy them back at 0.15 paying 0.1 DOGE
        (
            t0,
            "sell",
            Decimal(100),
            Decimal("0.16"),
            Decimal("0.016"),
            "USDT",
            "DOGE/USDT",
            "bot_a",
            "binance",
        ),
        (t1, "buy", Decimal(100), Decimal("0.15"), Decimal("0.1"), "DOGE", "DOGE/USDT", "bot_a", "binance"),
    ]
    assert _pnl_curve(trades)[-1][1] == Decimal(1) - Decimal("0.016") - Decimal("0.015")


def test_a_short_of_one_bot_beside_another_bots_long_is_booked_per_bot() -> None:
    """A spot short sells coins the account holds, most often another bot's: the curve kept one
    position per symbol, took the cover for a long and left its coin fee out (the books count it)."""
    t = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3, 4)]
    trades = [
        (t[0], "buy", Decimal(1), Decimal(100), Decimal("0.001"), "BTC", "BTC/USDT", "bot_a", "binance"),
        (
            t[1],
            "sell",
            Decimal("0.5"),
            Decimal(110),
            Decimal("0.055"),
            "USDT",
            "BTC/USDT",
            "bot_b",
            "binance",
        ),
        (t[2], "buy", Decimal("0.5"), Decimal(100), Decimal("0.0005"), "BTC", "BTC/USDT", "bot_b", "binance"),
        (
            t[3],
            "sell",
            Decimal("0.999"),
            Decimal(110),
            Decimal("0.10989"),
            "USDT",
            "BTC/USDT",
            "bot_a",
            "binance",
        ),
    ]
    bot_a = -100 + Decimal("0.999") * 110 - Decimal("0.10989")  # its coin fee is in what it sold
    bot_b = Decimal("0.5") * 10 - Decimal("0.055") - Decimal("0.0005") * 100  # the cover's fee at its value
    assert _pnl_curve(trades)[-1][1] == bot_a + bot_b


def test_the_curve_is_realised_pnl_net_of_fees_not_cash_flow() -> None:
    """Buying is not a loss nor selling a gain: each point is the PnL realised so far less the fees
    (the cash flow went -100.1, -220.22, -25.415, ...). Flat at the end, it is the books' net PnL."""
    t = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(6)]
    usdt = ("USDT", "BTC/USDT", "bot_a", "binance")
    trades = [
        (t[0], "buy", Decimal(1), Decimal(100), Decimal("0.1"), *usdt),
        (t[1], "buy", Decimal(1), Decimal(120), Decimal("0.12"), *usdt),  # average 110
        (t[2], "sell", Decimal("1.5"), Decimal(130), Decimal("0.195"), *usdt),  # +30 at a profit
        (t[3], "sell", Decimal("0.5"), Decimal(100), Decimal("0.05"), *usdt),  # -5 at a loss: flat
        (t[4], "sell", Decimal(1), Decimal(100), Decimal("0.1"), *usdt),  # a short: no PnL yet
        (t[5], "buy", Decimal(1), Decimal(90), Decimal("0.001"), "BTC", "BTC/USDT", "bot_a", "binance"),
    ]
    curve = _pnl_curve(trades)
    assert [ms for ms, _ in curve] == [int(x.timestamp() * 1000) for x in t]
    assert [v for _, v in curve] == [
        Decimal("-0.1"),
        Decimal("-0.22"),
        Decimal("29.585"),
        Decimal("24.535"),
        Decimal("24.435"),
        Decimal("34.345"),  # the cover realises 10, its 0.001 BTC fee counted at 90: 0.09
    ]
