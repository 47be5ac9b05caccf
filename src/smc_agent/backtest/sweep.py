"""Parameter sweeps over all cores, ranked by a statistic; optional walk-forward validation.

Workers receive the candles once (pool initializer) and the strategy by its name or spec (resolved
again in each worker by :func:`~smc_agent.strategy.registry.load_strategy`: the sweep is a user's own
command), so every task pickles only a small parameter dict.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.runner import BacktestConfig, BacktestResult, run_backtest
from smc_agent.core.enums import TradingState
from smc_agent.core.errors import ConfigError
from smc_agent.strategy.registry import build_strategy

Progress = Callable[[int, int], None]
# the statistics a sweep ranks by (start, end, bars, start_equity and buy_and_hold_return are the same
# in every run of a sweep)
METRICS = (
    "sharpe",
    "sortino",
    "calmar",
    "total_return",
    "annual_return",
    "final_equity",
    "max_drawdown",
    "max_drawdown_duration_days",
    "trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_win",
    "avg_loss",
    "exposure",
    "fees",
)
HIGHER_IS_WORSE = {"max_drawdown", "max_drawdown_duration_days", "fees"}


@dataclass(frozen=True)
class SweepRow:
    params: dict[str, Any]
    stats: dict[str, float | int | str]
    error: str = ""
    # ranked, but said: a breaker stopped its entries part way (the 25% drawdown breaker halts for good)
    note: str = ""


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    if not grid:
        return [{}]
    keys = list(grid)
    for key in keys:
        if not grid[key]:
            raise ConfigError(f"sweep parameter {key!r} has no values")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def check_metric(metric: str) -> None:
    """A metric no run has would rank every row NaN: refused."""
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; rank by one of: {', '.join(METRICS)}")


def value_of(row: SweepRow, metric: str) -> float:
    """The row's ``metric``; NaN for a row in error (or without that figure)."""
    value = row.stats.get(metric)
    if row.error or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _score(row: SweepRow, metric: str) -> float:
    value = value_of(row, metric)
    if math.isnan(value):
        return -math.inf
    return -value if metric in HIGHER_IS_WORSE else value


def rank(rows: Sequence[SweepRow], metric: str) -> list[SweepRow]:
    return sorted(rows, key=lambda r: _score(r, metric), reverse=True)


_DATA: CandleData | None = None
_CONFIG: BacktestConfig | None = None


def _init(data: CandleData, config: BacktestConfig) -> None:
    global _DATA, _CONFIG
    _DATA, _CONFIG = data, config


def _one(strategy: str, params: dict[str, Any], data: CandleData | None = None) -> SweepRow:
    data = data if data is not None else _DATA
    assert data is not None and _CONFIG is not None
    try:
        result = run_backtest(build_strategy(strategy, params), data, _CONFIG)
    except Exception as exc:  # a bad combination is a result row, not a crashed sweep
        return SweepRow(params, {}, f"{type(exc).__name__}: {exc}")
    typed = {k: result.params.get(k, v) for k, v in params.items()}  # "5" from the CLI is 5 here
    if result.failures:  # it stopped trading part way: its figures must not be ranked with complete runs
        return SweepRow(typed, result.stats, f"strategy failed: {result.failures[0].error}")
    return SweepRow(typed, result.stats, note=_breaker_note(result))


def _breaker_note(result: BacktestResult) -> str:
    """How the risk breakers stopped the run's entries: since when at its end, else how often."""
    stops = [c for c in result.state_changes if c.scope == "engine" and c.state is not TradingState.ACTIVE]
    if not stops:
        return ""
    last = result.state_changes[-1]
    if last.scope == "engine" and last.state is not TradingState.ACTIVE:
        day = datetime.fromtimestamp(last.ts_event / 1000, UTC).strftime("%Y-%m-%d")
        return f"trading {last.state.value} from {day} to the end: {last.reason}"
    first = stops[0]
    day = datetime.fromtimestamp(first.ts_event / 1000, UTC).strftime("%Y-%m-%d")
    return f"entries stopped {len(stops)} time(s) by the breakers (first {day}: {first.reason})"


def _one_window(strategy: str, params: dict[str, Any], start: int, end: int) -> SweepRow:
    assert _DATA is not None
    return _one(strategy, params, _DATA.between(start, end))


def run_sweep(
    strategy: str,
    data: CandleData,
    grid: Mapping[str, Sequence[Any]],
    config: BacktestConfig,
    *,
    metric: str = "sharpe",
    workers: int | None = None,
    progress: Progress | None = None,
    base_params: Mapping[str, Any] | None = None,
) -> list[SweepRow]:
    """Run every grid combination (merged over ``base_params``); rows ranked best first by ``metric``."""
    check_metric(metric)
    combos = _buildable(strategy, [{**(base_params or {}), **c} for c in expand_grid(grid)])
    rows = _map(
        strategy, [(c, None) for c in combos], data=data, config=config, workers=workers, progress=progress
    )
    return rank(rows, metric)


def _buildable(strategy: str, combos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``combos``, after checking in this process that the strategy accepts at least one of them: a bad
    name, type or range fails the sweep at once; a combination its rules refuse (say fast >= slow) is
    left in and becomes an error row."""
    first: ConfigError | None = None
    for params in combos:
        try:
            build_strategy(strategy, params)
        except ConfigError as exc:
            first = first or exc
        else:
            return combos
    assert first is not None
    raise first


def _map(
    strategy: str,
    tasks: Sequence[tuple[dict[str, Any], tuple[int, int] | None]],
    *,
    data: CandleData,
    config: BacktestConfig,
    workers: int | None,
    progress: Progress | None,
) -> list[SweepRow]:
    workers = workers or os.cpu_count() or 1
    rows: list[SweepRow] = []
    if workers == 1:
        _init(data, config)
        for i, (params, window) in enumerate(tasks):
            rows.append(_one(strategy, params) if window is None else _one_window(strategy, params, *window))
            if progress:
                progress(i + 1, len(tasks))
        return rows
    with ProcessPoolExecutor(max_workers=workers, initializer=_init, initargs=(data, config)) as pool:
        futures = [
            pool.submit(_one, strategy, p) if w is None else pool.submit(_one_window, strategy, p, *w)
            for p, w in tasks
        ]
        for done, _ in enumerate(as_completed(futures), start=1):
            if progress:
                progress(done, len(tasks))
        rows = [f.result() for f in futures]
    return rows


@dataclass(frozen=True)
class WalkForwardFold:
    train: tuple[int, int]
    test: tuple[int, int]
    best_params: dict[str, Any]
    train_stats: dict[str, float | int | str]
    test_stats: dict[str, float | int | str]
    error: str = ""  # no combination ran cleanly on the training window, or the test run failed


MIN_WINDOW = 20  # candles per walk-forward window


def walk_forward(
    strategy: str,
    data: CandleData,
    grid: Mapping[str, Sequence[Any]],
    config: BacktestConfig,
    *,
    folds: int,
    metric: str = "sharpe",
    workers: int | None = None,
    progress: Progress | None = None,
    base_params: Mapping[str, Any] | None = None,
) -> list[WalkForwardFold]:
    """Rolling walk-forward: split into ``folds`` equal windows; optimise on window k, test on k+1."""
    check_metric(metric)
    if folds < 2:
        raise ConfigError(f"walk-forward needs at least 2 folds, got {folds}")
    if len(data) < folds * MIN_WINDOW:
        raise ConfigError(
            f"walk-forward with {folds} folds needs at least {folds * MIN_WINDOW} candles "
            f"({MIN_WINDOW} per window), got {len(data)}"
        )
    times = data.open_time
    edges = [int(times[min(len(times) - 1, len(times) * k // folds)]) for k in range(folds)] + [
        int(times[-1]) + 1
    ]
    combos = _buildable(strategy, [{**(base_params or {}), **c} for c in expand_grid(grid)])
    tasks = [(c, (edges[k], edges[k + 1])) for k in range(folds - 1) for c in combos]
    rows = _map(strategy, tasks, data=data, config=config, workers=workers, progress=progress)
    out: list[WalkForwardFold] = []
    for k in range(folds - 1):
        fold_rows = rows[k * len(combos) : (k + 1) * len(combos)]
        train, test_window = (edges[k], edges[k + 1]), (edges[k + 1], edges[k + 2])
        clean = [r for r in fold_rows if not r.error]
        if not clean:  # nothing to choose from: the fold says why instead of testing a failed run
            why = f"every combination failed on the training window: {fold_rows[0].error}"
            out.append(WalkForwardFold(train, test_window, {}, {}, {}, why))
            continue
        best = rank(clean, metric)[0]
        _init(data, config)
        test = _one_window(strategy, best.params, *test_window)
        error = f"test run: {test.error}" if test.error else ""
        out.append(WalkForwardFold(train, test_window, best.params, best.stats, test.stats, error))
    return out
