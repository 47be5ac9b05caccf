"""Exchange simulator speaking the real Binance spot /api/v3 and Bybit /v5 REST APIs."""

from smc_agent.venues.simulator.feed import Feed, load_bars, parse_data_arg
from smc_agent.venues.simulator.server import ExchangeSimulator
from smc_agent.venues.simulator.state import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimulatorConfig

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "ExchangeSimulator",
    "Feed",
    "SimulatorConfig",
    "load_bars",
    "parse_data_arg",
]
