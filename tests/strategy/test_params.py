import re
from decimal import Decimal
from typing import Any

import pytest

from smc_agent.core.candle import Candle
from smc_agent.core.errors import ConfigError
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.params import Param, check_json_params
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


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"n": True}, "'n': True is a boolean, expected int"),
        ({"n": "12"}, "'n': '12' is a string, expected int"),
        ({"n": 12.5}, "'n': 12.5 is not a valid int"),
        ({"ratio": False}, "is a boolean, expected float"),
        ({"ratio": "0.5"}, "is a string, expected float"),
        ({"ratio": [0.5]}, "is a list, expected float"),
        ({"flag": [1]}, "'flag': [1] is a list, expected bool"),
        ({"flag": 1}, "is a number, expected bool"),
        ({"flag": "yes"}, "is a string, expected bool"),
        ({"mode": 1}, "is a number, expected str"),
        ({"mode": None}, "is a null, expected str"),
        ({"nope": 1}, "unknown parameter"),
        ({"ratio": 10**400}, "is not a valid float"),
    ],
)
def test_json_parameters_are_not_converted(given: dict[str, Any], message: str) -> None:
    """A bot's parameters come from JSON: ``true`` was taken as 1 and ``[1]`` as True (``bool([1])``)."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_json_params(P, given)


def test_json_parameters_of_the_declared_type_pass() -> None:
    given = {"n": 12, "ratio": 1, "flag": False, "mode": "b"}
    assert check_json_params(P, given) == {"n": 12, "ratio": 1.0, "flag": False, "mode": "b"}
    assert check_json_params(P, {"n": 12.0}) == {"n": 12}
    assert check_json_params(P, {}) == {}


def test_a_huge_integer_for_a_float_is_refused_not_an_overflow() -> None:
    with pytest.raises(ConfigError, match=r"'ratio'.* is not a valid float"):
        P(ratio=10**400)


def test_quantities_have_an_upper_bound() -> None:
    """``qty: 1e300`` was accepted: the risk gate caps an order at 10,000 (RiskConfig.max_order_qty)."""
    from smc_agent.live.strategies import Drill

    for cls in (SmaCross, Drill):
        with pytest.raises(ConfigError, match=r"'qty': 1e\+300 above maximum 10000"):
            cls(qty=1e300)
        assert cls(qty=10_000).qty == 10_000
    assert SmaCross(qty=0).qty == 0  # 0 = engine sizing
    with pytest.raises(ConfigError, match=r"qty \(0.0\) must be more than 0"):
        Drill(qty=0)


class WithDecimal(Strategy):
    step = Param(Decimal, Decimal("0.5"), low=Decimal(0))

    def on_candle(self, candle: Candle) -> None:
        pass


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nan", "parameter 'step': 'nan' is not a finite number"),
        ("Infinity", "parameter 'step': 'Infinity' is not a finite number"),
        ("abc", "parameter 'step': 'abc' is not a valid Decimal"),
    ],
)
def test_a_decimal_parameter_names_a_bad_value(value: str, message: str) -> None:
    """NaN failed with "InvalidOperation: [<class 'decimal.InvalidOperation'>]" (its range check raised)."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        WithDecimal(step=value)
    assert WithDecimal(step="0.25").step == Decimal("0.25")
