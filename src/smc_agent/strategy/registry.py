"""Shipped strategies by name (the CLI's ``--strategy`` and the sweep workers look them up here)."""

from __future__ import annotations

from smc_agent.core.errors import ConfigError
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.sma_cross import SmaCross
from smc_agent.strategy.smc_structure import SmcStructure

STRATEGIES: dict[str, type[Strategy]] = {"smc": SmcStructure, "sma_cross": SmaCross}


def strategy_class(name: str) -> type[Strategy]:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; available: {sorted(STRATEGIES)}") from None
