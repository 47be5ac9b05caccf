from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.clock import TestClock
from smc_agent.core.ids import InstrumentId
from smc_agent.core.instrument import Instrument
from smc_agent.core.money import round_price, round_qty_down, round_to_increment, to_decimal


def test_to_decimal_uses_shortest_float_repr() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("1.50") == Decimal("1.50")
    with pytest.raises(ValueError, match="nan"):
        to_decimal(float("nan"))
    with pytest.raises(ValueError, match="abc"):
        to_decimal("abc")


def test_rounding_to_tick_and_step() -> None:
    assert round_price(Decimal("100.126"), Decimal("0.01")) == Decimal("100.13")
    assert round_qty_down(Decimal("0.0019"), Decimal("0.001")) == Decimal("0.001")
    assert round_price(Decimal("12345"), Decimal("5")) == Decimal("12345")


_INCREMENTS = ["1", "0.01", "0.00001", "1E+1", "10", "0.010", "1.0", "0.5", "0.25", "5"]


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, places=8),
    st.sampled_from(_INCREMENTS),
    st.sampled_from([ROUND_DOWN, ROUND_HALF_EVEN]),
)
def test_rounding_equals_the_units_formula(value: Decimal, increment: str, rounding: str) -> None:
    """Power-of-ten increments take a one-quantize shortcut; the result (value and exponent) is the
    one of the general formula for every increment, written however it is."""
    inc = Decimal(increment)
    units = (value / inc).quantize(Decimal(1), rounding=rounding)
    expected = (units * inc).quantize(inc)
    got = round_to_increment(value, inc, rounding=rounding)
    assert str(got) == str(expected)


def test_instrument_validation_names_the_problem() -> None:
    inst = Instrument(
        "sim",
        "BTC/USDT",
        "BTC",
        "USDT",
        Decimal("0.01"),
        Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal(100),
        min_notional=Decimal(5),
    )
    assert inst.id == InstrumentId("sim", "BTC/USDT")
    assert inst.validate_order(Decimal("0.01"), Decimal("1000.00")) is None
    assert "lot step" in (inst.validate_order(Decimal("0.0015"), Decimal(1000)) or "")
    assert "tick" in (inst.validate_order(Decimal("0.01"), Decimal("1000.005")) or "")
    assert "above maximum" in (inst.validate_order(Decimal(101), None) or "")
    assert "notional" in (inst.validate_order(Decimal("0.001"), Decimal("1000")) or "")


def test_instrument_id_round_trip() -> None:
    iid = InstrumentId("binance", "BTC/USDT")
    assert InstrumentId.parse(str(iid)) == iid
    with pytest.raises(ValueError):
        InstrumentId.parse("BTCUSDT")


def test_timeframes_and_candle() -> None:
    assert timeframe_ms("5m") == 300_000
    assert timeframe_ms("4h") == 14_400_000
    with pytest.raises(ValueError, match="bad timeframe '5x'"):
        timeframe_ms("5x")
    c = Candle("binance", "BTC/USDT", "1h", 0, 1.0, 2.0, 0.5, 1.5, 10.0)
    assert c.close_time == 3_600_000
    c.validate()
    with pytest.raises(ValueError, match="OHLC violation"):
        Candle("binance", "BTC/USDT", "1h", 0, 1.0, 0.9, 0.5, 1.5, 10.0).validate()


def test_test_clock_never_goes_back() -> None:
    clock = TestClock(10)
    clock.advance(5)
    assert clock.timestamp_ms() == 15
    with pytest.raises(ValueError):
        clock.set_time(1)
