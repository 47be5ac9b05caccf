"""The shipped SMC strategy's entry rules, driven by hand-made SMC event records (no data files)."""

from __future__ import annotations

import pytest

from smc_agent.core.candle import Candle
from smc_agent.core.enums import OrderSide
from smc_agent.core.errors import ConfigError
from smc_agent.core.events import OrderDenied, OrderSubmitted
from smc_agent.risk.config import RiskConfig
from smc_agent.smc.kernel.layout import (
    EV_A,
    EV_B,
    EV_BAR,
    EV_DIR,
    EV_FIELDS,
    EV_ID,
    EV_KIND,
    K_OB_INVALIDATED,
    K_OB_MITIGATED,
    K_OB_NEW,
    K_SWING,
)
from smc_agent.strategy.smc_structure import SmcStructure
from tests.engine.harness import INST, Rig


def row(
    kind: int, *, bar: int = 10, id_: int = 0, direction: int = 1, a: float = 0.0, b: float = 0.0
) -> list[float]:
    r = [0.0] * EV_FIELDS
    r[EV_KIND], r[EV_BAR], r[EV_ID], r[EV_DIR], r[EV_A], r[EV_B] = kind, bar, id_, direction, a, b
    return r


def bullish_setup(*, risk: RiskConfig | None = None) -> tuple[Rig, SmcStructure]:
    """Bullish bias, dealing range 90-110 (equilibrium 100), a bullish order block 94-96 (id 7)."""
    strategy = SmcStructure(htf="1h")
    rig = Rig(strategy, risk=risk)
    rig.bar(100, 101, 99, 100)  # a price for the engine's reference
    strategy.bias = 1
    strategy._on_rows(
        candle(100),
        [
            row(K_SWING, direction=1, a=110.0),
            row(K_SWING, direction=-1, a=90.0),
            row(K_OB_NEW, id_=7, a=96.0, b=94.0),
        ],
    )
    return rig, strategy


def candle(close: float, rig: Rig | None = None) -> Candle:
    """A candle closing at ``close``; with ``rig``, also the engine's last price (as a candle it is fed)."""
    if rig is not None:
        rig.engine.portfolio.marks[INST.id] = close
    return Candle("sim", "BTC/USDT", "1m", 60_000, close, close + 1, close - 1, close, 100.0)


def notes(rig: Rig) -> list[dict[str, object]]:
    return rig.engine.bots["bot"].annotations


def entries(rig: Rig) -> list[OrderSide]:
    return [e.side for e in rig.of(OrderSubmitted) if not e.reduce_only]


def test_a_retrace_into_a_bullish_block_in_discount_goes_long() -> None:
    rig, strategy = bullish_setup()
    strategy._on_rows(candle(95.0, rig), [row(K_OB_MITIGATED, id_=7)])
    assert entries(rig) == [OrderSide.BUY]
    (note,) = notes(rig)
    assert note["stop"] < note["bottom"] == 94.0 and note["target"] > 95.0  # type: ignore[operator]


def test_no_entry_on_a_block_that_broke_on_the_same_candle() -> None:
    # touched and invalidated by one candle: it went long on a block that had just failed
    rig, strategy = bullish_setup()
    strategy._on_rows(candle(93.5), [row(K_OB_MITIGATED, id_=7), row(K_OB_INVALIDATED, id_=7)])
    assert entries(rig) == [] and notes(rig) == []


def test_no_entry_when_the_candle_closed_beyond_the_zone() -> None:
    # mitigated, not (yet) invalidated, but the close is below the zone's bottom: the zone did not hold
    rig, strategy = bullish_setup()
    strategy._on_rows(candle(93.9), [row(K_OB_MITIGATED, id_=7)])
    assert entries(rig) == [] and notes(rig) == []


def test_a_refused_entry_is_not_drawn_on_the_report() -> None:
    # HALTED: the risk gate refuses the entry; the report used to draw its zone, stop and target
    rig, strategy = bullish_setup(risk=RiskConfig())
    rig.engine.set_trading_state(rig.engine.state.HALTED, "test")
    strategy._on_rows(candle(95.0, rig), [row(K_OB_MITIGATED, id_=7)])
    assert rig.of(OrderDenied) and notes(rig) == []


def test_the_bias_timeframe_is_a_parameter() -> None:
    assert SmcStructure(htf="4h").timeframes == ("4h",)
    assert SmcStructure().timeframes == ("1h",)
    with pytest.raises(ConfigError, match="htf"):
        SmcStructure(htf="7x")
