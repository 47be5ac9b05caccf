"""The P&L curve of the status view counts a fee where it was paid: a spot buy's fee in the coin bought
took coins, not cash (subtracted as quote currency it was a price of one coin too many: 10 DOGE of fee
counted as 10 USDT)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from smc_agent.api.queries import _cash_flow_curve


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
    curve = _cash_flow_curve(trades)
    assert [v for _, v in curve] == [Decimal(-15), Decimal(-15) + Decimal("15.984") - Decimal("0.015984")]
    legacy = [
        (t0, "buy", Decimal(1), Decimal(100), Decimal("0.1"), None, "BTC/USDT", None, "binance")
    ]  # fee=0 era rows
    assert _cash_flow_curve(legacy)[0][1] == Decimal("-100.1")


def test_covering_a_short_its_coin_fee_counts_at_its_value() -> None:
    """A short holds no coins: the buy covering it pays its fee in the coin, which the books count at
    its value; the curve of flat books ends at the realised PnL net of fees (it ended 0.015 higher)."""
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
    assert _cash_flow_curve(trades)[-1][1] == Decimal(1) - Decimal("0.016") - Decimal("0.015")


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
    assert _cash_flow_curve(trades)[-1][1] == bot_a + bot_b
