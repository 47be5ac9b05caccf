"""The ONE trading engine (strategy -> risk -> execution -> venue), shared by backtest and live."""

from smc_agent.engine.engine import TradingEngine

__all__ = ["TradingEngine"]
