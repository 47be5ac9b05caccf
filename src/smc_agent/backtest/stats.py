"""Standard backtest statistics from the equity curve and the trade list.

Per-bar simple returns; annualisation assumes 24/7 markets (365 days). Sharpe and Sortino use a zero
risk-free rate and are annualised alike (per-bar ratio times sqrt(bars per year)):

- Sharpe = mean(r) / std(r, ddof=1) * sqrt(bars per year)
- Sortino = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(bars per year), the downside deviation taken over
  every bar (target 0: a bar with a gain counts as 0, it is not left out)

Drawdown duration is the longest time (days) spent below a previous equity peak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from smc_agent.backtest.trades import Trade

YEAR_MS = 365 * 86_400_000


def _drawdown(equity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    peak = np.maximum.accumulate(equity)
    return np.where(peak > 0, equity / peak - 1.0, 0.0)


def drawdown_series(equity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Drawdown per bar as a negative fraction of the running peak (0 at a new high)."""
    return _drawdown(equity)


def _max_dd_duration_ms(equity: npt.NDArray[np.float64], times: npt.NDArray[np.int64]) -> int:
    peak = np.maximum.accumulate(equity)
    below = equity < peak
    longest = 0
    start: int | None = None
    for i, flag in enumerate(below.tolist()):
        if flag and start is None:
            start = i - 1 if i > 0 else 0
        elif not flag and start is not None:
            longest = max(longest, int(times[i] - times[start]))
            start = None
    if start is not None:
        longest = max(longest, int(times[-1] - times[start]))
    return longest


def compute_stats(
    *,
    equity: npt.NDArray[np.float64],
    times: npt.NDArray[np.int64],
    bar_ms: int,
    trades: Sequence[Trade],
    fees: Decimal,
    exposure_bars: int,
    closes: npt.NDArray[np.float64],
) -> dict[str, float | int | str]:
    n = len(equity)
    start_eq = float(equity[0]) if n else 0.0
    end_eq = float(equity[-1]) if n else 0.0
    span_ms = int(times[-1] - times[0] + bar_ms) if n else 0
    total = end_eq / start_eq - 1.0 if start_eq else 0.0
    years = span_ms / YEAR_MS if span_ms else 0.0
    annual = (
        (1.0 + total) ** (1.0 / years) - 1.0 if years > 0 and total > -1.0 else (-1.0 if total <= -1 else 0.0)
    )
    # a bar that starts with nothing (an account wiped out: margin) has nothing to gain or lose: 0, not
    # NaN (NaN made the spread NaN, and Sharpe 0 ranked a ruined run above every losing one)
    before = equity[:-1]
    rets = np.diff(equity) / np.where(before > 0, before, 1.0) * (before > 0) if n > 1 else np.zeros(0)
    per_year = YEAR_MS / bar_ms
    std = float(np.std(rets, ddof=1)) if len(rets) > 1 else 0.0
    mean = float(np.mean(rets)) if len(rets) else 0.0
    sharpe = mean / std * math.sqrt(per_year) if std > 0 else 0.0
    # downside deviation (target 0): root mean square of min(r, 0) over ALL bars (a gain counts as 0)
    dstd = float(np.sqrt(np.mean(np.square(np.minimum(rets, 0.0))))) if len(rets) else 0.0
    # no losing bar / no drawdown: unbounded when it gained (as the profit factor is), not 0, which
    # ranked a run without risk below every run with some
    sortino = mean / dstd * math.sqrt(per_year) if dstd > 0 else (math.inf if mean > 0 else 0.0)
    dd = _drawdown(equity) if n else np.zeros(0)
    max_dd = 0.0 - float(dd.min()) if n else 0.0  # ``0.0 - 0.0`` is 0.0; ``-0.0`` printed "-0.00%"
    calmar = annual / max_dd if max_dd > 0 else (math.inf if annual > 0 else 0.0)
    pnls = [float(t.pnl) for t in trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_win, gross_loss = sum(wins), -sum(losses)
    profit_factor = gross_win / gross_loss if gross_loss > 0 else (math.inf if gross_win > 0 else 0.0)
    return {
        "start": int(times[0]) if n else 0,
        "end": int(times[-1] + bar_ms) if n else 0,
        "bars": n,
        "start_equity": start_eq,
        "final_equity": end_eq,
        "total_return": total,
        "annual_return": annual,
        "buy_and_hold_return": float(closes[-1] / closes[0] - 1.0) if n else 0.0,
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": calmar,
        "max_drawdown": max_dd,
        "max_drawdown_duration_days": _max_dd_duration_ms(equity, times) / 86_400_000 if n else 0.0,
        "trades": len(trades),
        "win_rate": len(wins) / len(pnls) if pnls else 0.0,
        "profit_factor": profit_factor,
        "expectancy": sum(pnls) / len(pnls) if pnls else 0.0,
        "avg_win": gross_win / len(wins) if wins else 0.0,
        "avg_loss": -gross_loss / len(losses) if losses else 0.0,
        "exposure": exposure_bars / n if n else 0.0,
        "fees": float(fees),
    }
