"""Sortino (and Sharpe) against hand-computed figures, the definition on real data, and backtesting.py."""

from __future__ import annotations

import math
import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from smc_agent.backtest.runner import BacktestResult, run_backtest
from smc_agent.backtest.stats import compute_stats
from smc_agent.strategy.sma_cross import SmaCross
from tests.backtest._data import load_candles

DAY_MS = 86_400_000


def _stats(equity: np.ndarray, times: np.ndarray, bar_ms: int) -> dict[str, float | int | str]:
    return compute_stats(
        equity=equity, times=times, bar_ms=bar_ms, trades=[], fees=Decimal(0), exposure_bars=0, closes=equity
    )


def test_sortino_and_sharpe_of_a_small_series_by_hand() -> None:
    # daily returns +4%, -2%, +1%, -1%: equity 100, 104, 101.92, 102.9392, 101.909808
    equity = np.array([100.0, 104.0, 101.92, 102.9392, 101.909808])
    s = _stats(equity, np.arange(5, dtype=np.int64) * DAY_MS, DAY_MS)
    # mean r = (0.04 - 0.02 + 0.01 - 0.01) / 4 = 0.005
    # downside deviation over ALL 4 bars: min(r, 0) = 0, -0.02, 0, -0.01
    #   sqrt((0 + 0.0004 + 0 + 0.0001) / 4) = sqrt(0.000125) = 0.01 * sqrt(1.25)
    # per-bar ratio 0.005 / (0.01 * sqrt(1.25)) = 0.5 / sqrt(1.25) = 1 / sqrt(5)
    # annualised (365 daily bars): sqrt(365) / sqrt(5) = sqrt(73) = 8.54400374531753
    assert s["sortino"] == pytest.approx(8.54400374531753, rel=1e-12)
    # (the losing bars only, the old error: sqrt(0.0005 / 2) -> 1 / sqrt(10) -> sqrt(36.5) = 6.0415...)
    assert s["sortino"] != pytest.approx(math.sqrt(36.5), rel=1e-3)
    # Sharpe, same annualisation: deviations from 0.005 are 0.035, -0.025, 0.005, -0.015
    #   squares 0.001225 + 0.000625 + 0.000025 + 0.000225 = 0.0021; / (4 - 1) = 0.0007
    #   0.005 / sqrt(0.0007) * sqrt(365) = sqrt(0.025 / 0.7 * 365) = sqrt(13.0357142857...) = 3.6105005...
    assert s["sharpe"] == pytest.approx(math.sqrt(0.000025 / 0.0007 * 365), rel=1e-12)
    assert s["sharpe"] == pytest.approx(3.6105005, rel=1e-7)


def test_without_a_losing_bar_sortino_and_calmar_are_unbounded_not_a_division_by_zero() -> None:
    """They were 0, like a run that went nowhere: a sweep ranked the run without risk below every run
    with some (the profit factor of a run without a loss was already infinite)."""
    days = np.arange(3, dtype=np.int64) * DAY_MS
    gains = _stats(np.array([100.0, 101.0, 102.0]), days, DAY_MS)
    assert gains["sortino"] == math.inf and gains["calmar"] == math.inf
    assert gains["max_drawdown"] == 0.0 and math.copysign(1.0, gains["max_drawdown"]) == 1.0  # not -0.0
    flat = _stats(np.array([100.0, 100.0, 100.0]), days, DAY_MS)
    assert (flat["sortino"], flat["calmar"], flat["sharpe"]) == (0.0, 0.0, 0.0)
    assert f"{flat['max_drawdown']:.2%}" == "0.00%"


def test_a_run_wiped_out_has_the_ratios_of_its_losses_not_zero() -> None:
    # after equity 0 the next return was 0/0: the spread came out NaN, and Sharpe and Sortino 0.0, as
    # for a run that went nowhere (a sweep ranked a run that lost everything above losing ones)
    days = np.arange(5, dtype=np.int64) * DAY_MS
    ruined = _stats(np.array([100.0, 60.0, 30.0, 0.0, 0.0]), days, DAY_MS)
    # returns -0.4, -0.5, -1, then 0 (nothing left to lose): mean -0.475
    rets = [-0.4, -0.5, -1.0, 0.0]
    assert ruined["sharpe"] == pytest.approx(-0.475 / np.std(rets, ddof=1) * math.sqrt(365), rel=1e-12)
    assert ruined["sortino"] == pytest.approx(-0.475 / math.sqrt(1.41 / 4) * math.sqrt(365), rel=1e-12)
    assert ruined["total_return"] == -1.0 and ruined["max_drawdown"] == 1.0


@pytest.fixture(scope="module")
def sma_run() -> BacktestResult:
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_1h.csv", symbol="BTC/USDT", timeframe="1h")
    return run_backtest(SmaCross(), data)


def test_sortino_on_real_data_matches_the_definition(sma_run: BacktestResult) -> None:
    r = pd.Series(sma_run.equity).pct_change().dropna()
    assert (r < 0).sum() > 1000 and (r >= 0).sum() > 1000  # the bars without a loss count (as 0)
    downside = math.sqrt(float((r.clip(upper=0.0) ** 2).sum()) / len(r))
    expected = float(r.mean()) / downside * math.sqrt(365 * 24)  # hourly bars, 24/7
    assert sma_run.stats["sortino"] == pytest.approx(expected, rel=1e-9)
    losing_only = math.sqrt(float((r[r < 0] ** 2).mean()))  # the old error
    assert sma_run.stats["sortino"] != pytest.approx(float(r.mean()) / losing_only * math.sqrt(365 * 24))


def test_downside_deviation_agrees_with_backtesting_py(sma_run: BacktestResult) -> None:
    """backtesting.py's Sortino is NOT comparable figure for figure: it resamples the equity to daily
    returns and divides the geometric annual return ((1 + geometric mean daily return)^365 - 1) by
    sqrt(mean(min(r_day, 0)^2)) * sqrt(365), where ours divides the arithmetic mean per-bar return.
    Its denominator is the same definition as ours (target 0, over all periods), so that part is checked:
    on the same daily equity, backtesting.py's annual return / Sortino equals our downside deviation,
    recovered from our Sortino as mean(r_day) * sqrt(365) / sortino, times sqrt(365)."""
    backtesting_stats = pytest.importorskip("backtesting._stats")
    data = sma_run.data
    index = pd.to_datetime(data.open_time, unit="ms")
    ohlc = pd.DataFrame(
        {"Open": data.open, "High": data.high, "Low": data.low, "Close": data.close, "Volume": data.volume},
        index=index,
    )
    no_trades = pd.DataFrame(
        {c: [] for c in ("Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "PnL", "ReturnPct")}
        | {"Duration": pd.to_timedelta([])}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = backtesting_stats.compute_stats(no_trades, sma_run.equity, ohlc, None)
    peer_downside_annual = peer["Return (Ann.) [%]"] / 100 / peer["Sortino Ratio"]

    daily = pd.Series(sma_run.equity, index=index).resample("D").last().dropna()  # as backtesting.py does
    ours = _stats(daily.to_numpy(), (daily.index.asi8 // 1_000_000).astype(np.int64), DAY_MS)
    mean_day = float(daily.pct_change().dropna().mean())
    our_downside_annual = mean_day * math.sqrt(365) / float(ours["sortino"]) * math.sqrt(365)
    assert len(daily) > 200
    assert our_downside_annual == pytest.approx(peer_downside_annual, rel=1e-9)
