from typing import Any

import pytest

from smc_agent.core.candle import Candle
from smc_agent.core.errors import ConfigError
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.params import Param
from smc_agent.strategy.sma_cross import SmaCross
from smc_agent.strategy.smc_structure import SmcStructure


class P(Strategy):
    n = Param(int, 10, low=2, high=50)
    ratio = Param(float, 0.5, low=0.0, high=1.0)
    flag = Param(bool, False)
    mode = Param(str, "a", choices=("a", "b"))

    def on_candle(self, candle: Candle) -> None:
        pass


def test_defaults_and_string_coercion() -> None:
    s = P(n="12", ratio="0.25", flag="yes", mode="b")
    assert (s.n, s.ratio, s.flag, s.mode) == (12, 0.25, True, "b")
    assert P().params == {"n": 10, "ratio": 0.5, "flag": False, "mode": "a"}
    assert P.n.default == 10  # on the class it is the spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 1}, "'n': 1 below minimum 2"),
        ({"n": "x"}, "'n': 'x' is not a valid int"),
        ({"n": 2.5}, "is not a valid int"),
        ({"mode": "c"}, "not one of"),
        ({"flag": "maybe"}, "not a valid bool"),
        ({"nope": 1}, "unknown parameter"),
    ],
)
def test_bad_values_name_the_problem(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        P(**kwargs)


def test_shipped_strategies_declare_ranges() -> None:
    for cls in (SmaCross, SmcStructure):
        specs = cls.param_specs()
        assert specs and all(spec.describe()["type"] for spec in specs.values())
    assert SmcStructure.param_specs()["rr"].low == 0.5


def test_unbound_strategy_says_so() -> None:
    with pytest.raises(ConfigError, match="not bound"):
        _ = P().equity


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", float("nan"), float("inf")])
def test_a_float_parameter_must_be_finite(value: Any) -> None:
    """NaN passes every range check (every comparison is false) and infinity passes an open range: both
    were accepted and the run failed part way, or traded with a meaningless figure."""
    with pytest.raises(ConfigError, match=r"parameter 'ratio': .* is not a finite number"):
        P(ratio=value)
    with pytest.raises(ConfigError, match=r"parameter 'rr': .* is not a finite number"):
        SmcStructure(rr=value)
    with pytest.raises(ConfigError, match=r"parameter 'qty': .* is not a finite number"):
        SmaCross(qty=value)
