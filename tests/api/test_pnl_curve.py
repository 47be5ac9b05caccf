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
        (t0, "buy", Decimal(100), Decimal("0.15"), Decimal("0.1"), "DOGE", "DOGE/USDT"),
        (t1, "sell", Decimal("99.9"), Decimal("0.16"), Decimal("0.015984"), "USDT", "DOGE/USDT"),
    ]
    curve = _cash_flow_curve(trades)
    assert [v for _, v in curve] == [Decimal(-15), Decimal(-15) + Decimal("15.984") - Decimal("0.015984")]
    legacy = [(t0, "buy", Decimal(1), Decimal(100), Decimal("0.1"), None, "BTC/USDT")]  # fee=0 era rows
    assert _cash_flow_curve(legacy)[0][1] == Decimal("-100.1")


def test_covering_a_short_its_coin_fee_counts_at_its_value() -> None:
    """A short holds no coins: the buy covering it pays its fee in the coin, which the books count at
    its value; the curve of flat books ends at the realised PnL net of fees (it ended 0.015 higher)."""
    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    trades = [  # sell 100 DOGE at 0.16 paying 0.016 USDT; buy them back at 0.15 paying 0.1 DOGE
        (t0, "sell", Decimal(100), Decimal("0.16"), Decimal("0.016"), "USDT", "DOGE/USDT"),
        (t1, "buy", Decimal(100), Decimal("0.15"), Decimal("0.1"), "DOGE", "DOGE/USDT"),
    ]
    assert _cash_flow_curve(trades)[-1][1] == Decimal(1) - Decimal("0.016") - Decimal("0.015")
