"""Backtesting: simulated venue, runner (drives the ONE engine), statistics, trades, reports, sweeps."""
