"""SMC Trading Agent: causal Smart Money Concepts, one engine for backtest and live trading."""

__version__ = "0.1.0"
