"""The Strategy API users subclass, and the shipped strategies (SMA cross, SMC structure)."""

from smc_agent.strategy.base import Strategy
from smc_agent.strategy.params import Param

__all__ = ["Param", "Strategy"]
