"""Backtest engine benchmark: this engine vs backtesting.py vs vectorbt on the SMA-cross strategy,
plus the SMC strategy's candles per second (the causal SMC concepts it reads on 5m and 1h, computed over
the whole series - since 44b8a04 not the ones it never reads - + risk gate + execution).

    uv run python bench/backtest_vs_peers.py            # 77k real 5m candles and 1M candles
    uv run python bench/backtest_vs_peers.py --quick    # 77k only, one repetition
    uv run python bench/backtest_vs_peers.py --quick --sma 50,200   # fewer orders per candle

Data: Binance BTC/USDT 5m 2024 (76,948 real candles) from ../shared/data; the 1M series tiles that
real series end to end (each copy rescaled to start at the previous close), so it keeps real
intrabar structure. Every engine trades the same signals (fast/slow SMA 10/20 crosses, long and
short, size 1, 0.1% commission, fills at the next open). Prints medians and ratios measured in the
same run; the peak RSS of each 1M run is measured in a fresh child process.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.fill_model import FillModel
from smc_agent.backtest.runner import BacktestConfig, run_backtest
from smc_agent.core.candle import Candle
from smc_agent.risk.config import RiskConfig
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.indicators import SMA
from smc_agent.strategy.sma_cross import SmaCross
from smc_agent.strategy.smc_structure import SmcStructure

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar would garble the output
ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / ".." / "shared" / "data" / "ohlcv" / "binance_2024" / "binance_spot_BTCUSDT_5m.csv"
FAST, SLOW, FEE = 10, 20, 0.001


def load_real() -> CandleData:
    if not CSV.exists():
        sys.exit(f"benchmark data not found: {CSV}")
    frame = pd.read_csv(CSV)
    return CandleData.from_frame(frame, venue="binance", symbol="BTC/USDT", timeframe="5m")


def tile(data: CandleData, n: int) -> CandleData:
    """``n`` candles: copies of the real series, each rescaled to open at the previous close."""
    reps = -(-n // len(data))
    cols = {k: [] for k in ("open", "high", "low", "close", "volume")}
    scale = 1.0
    for _ in range(reps):
        for k in ("open", "high", "low", "close"):
            cols[k].append(np.round(getattr(data, k) * scale, 2))
        cols["volume"].append(data.volume)
        scale *= float(data.close[-1] / data.open[0])
        scale = scale if 0.2 < scale < 5 else 1.0
    step = int(data.open_time[1] - data.open_time[0])
    times = data.open_time[0] + np.arange(reps * len(data), dtype=np.int64) * step
    arrays = {k: np.concatenate(v)[:n] for k, v in cols.items()}
    return CandleData(data.venue, data.symbol, data.timeframe, times[:n], **arrays)


# ---------------------------------------------------------------- the three engines
def run_ours(data: CandleData) -> tuple[int, float]:
    config = BacktestConfig(
        starting_cash=Decimal(10_000_000),
        risk=RiskConfig.permissive(),
        fill_model=FillModel(maker_fee=Decimal(str(FEE)), taker_fee=Decimal(str(FEE))),
        qty_increment=Decimal(1),
    )
    result = run_backtest(SmaCross(fast=FAST, slow=SLOW, qty=1.0), data, config)
    return len(result.trades), float(result.stats["final_equity"])


def run_strategy_alone(data: CandleData) -> tuple[int, float]:
    """The SMA-cross strategy's own per-candle work with no engine at all: the same streaming SMAs and
    cross test over the same candle objects, counting crosses (no orders, no risk, no venue, no events).
    Whatever an event-driven engine does per candle and per order comes on top of this."""
    fast, slow = SMA(FAST), SMA(SLOW)
    update_fast, update_slow = fast.update, slow.update
    prev_fast = prev_slow = float("nan")
    crosses = 0
    for candle in data.candles():
        f = update_fast(candle.close)
        s = update_slow(candle.close)
        if (prev_fast < prev_slow and f > s) or (prev_slow < prev_fast and s > f):
            crosses += 1
        prev_fast, prev_slow = f, s
    return crosses, float("nan")


class _Idle(Strategy):
    """A strategy that does nothing: what the engine costs per candle before any strategy code."""

    name = "idle"

    def on_candle(self, candle: Candle) -> None:
        return None


def run_engine_idle(data: CandleData) -> tuple[int, float]:
    """The engine's own per-candle work (candle objects, clock, venue, portfolio marks, routing, the
    guarded strategy call) with a strategy that never orders: the floor under any strategy's time."""
    result = run_backtest(_Idle(), data, BacktestConfig(risk=RiskConfig.permissive()))
    return len(result.trades), float(result.stats["final_equity"])


def run_candle_objects(data: CandleData) -> tuple[int, float]:
    """Only the candle objects both of the above make (counted once in the floor)."""
    n = 0
    for _ in data.candles():
        n += 1
    return n, float("nan")


def _frame(data: CandleData) -> pd.DataFrame:
    return pd.DataFrame(
        {"Open": data.open, "High": data.high, "Low": data.low, "Close": data.close, "Volume": data.volume},
        index=pd.to_datetime(data.open_time, unit="ms"),
    )


def run_backtesting_py(data: CandleData) -> tuple[int, float]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def sma(values: np.ndarray, n: int) -> pd.Series:
        return pd.Series(values).rolling(n).mean()

    class PeerSmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy(size=1)
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell(size=1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(
            _frame(data), PeerSmaCross, cash=10_000_000, commission=FEE, finalize_trades=False
        ).run()
    return int(stats["# Trades"]), float(stats["Equity Final [$]"])


def _import_vectorbt():
    from plotly.graph_objs import layout

    original = layout.Template

    class Template(original):  # vectorbt 0.28 registers a template plotly 6 rejects (mapbox keys)
        def __init__(self, arg=None, **kwargs):
            kwargs.setdefault("skip_invalid", True)
            super().__init__(arg, **kwargs)

    layout.Template = Template
    try:
        import vectorbt as vbt
    finally:
        layout.Template = original
    return vbt


def run_vectorbt(data: CandleData) -> tuple[int, float]:
    vbt = _import_vectorbt()
    close = pd.Series(data.close)
    fast, slow = close.rolling(FAST).mean(), close.rolling(SLOW).mean()
    up = (fast.shift(1) < slow.shift(1)) & (fast > slow)
    down = (slow.shift(1) < fast.shift(1)) & (slow > fast)
    pf = vbt.Portfolio.from_signals(
        close,
        entries=up,
        exits=down,
        short_entries=down,
        short_exits=up,
        size=1.0,
        fees=FEE,
        price=pd.Series(data.open).shift(-1),
        init_cash=10_000_000,
        freq="5min",
    )  # next bar's open
    return int(pf.trades.count()), float(pf.final_value())


class SmcFullSet(SmcStructure):
    """The same strategy with its SMC sources asking for every event type: the whole causal SMC set is
    computed (and served) on both timeframes, as the issue's target states it; it must trade the same."""

    def smc(self, timeframe=None, config=None, *, kinds=None):  # type: ignore[no-untyped-def]
        return super().smc(timeframe, config, kinds=None)


def run_smc(data: CandleData, mode: str, full_set: bool = False) -> tuple[int, float]:
    result = run_backtest(
        SmcFullSet() if full_set else SmcStructure(),
        data,
        BacktestConfig(smc_mode=mode, risk=RiskConfig(max_drawdown=None, daily_loss_limit=None)),
    )
    return len(result.trades), float(result.stats["final_equity"])


# ---------------------------------------------------------------- measurement
def timed(
    fn: Callable[[CandleData], tuple[int, float]], data: CandleData, reps: int
) -> tuple[float, float, tuple[int, float]]:
    """(median wall seconds, median CPU seconds of this process, result)."""
    times, cpu, out = [], [], (0, 0.0)
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        out = fn(data)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times), statistics.median(cpu), out


def _child(name: str, n: int, sma: tuple[int, int], queue: mp.Queue) -> None:
    global FAST, SLOW
    FAST, SLOW = sma  # a spawned interpreter starts from the module defaults
    data = tile(load_real(), n)
    fn = {
        "ours": run_ours,
        "backtesting.py": run_backtesting_py,
        "vectorbt": run_vectorbt,
        "smc": lambda d: run_smc(d, "replay"),
    }[name]
    fn(data.between(None, int(data.open_time[2000])))  # imports, compiled SMC kernels
    t = time.perf_counter()
    fn(data)
    queue.put((time.perf_counter() - t, _peak_rss_mb()))


def _peak_rss_mb() -> float:
    """Peak RSS of this interpreter. ``ru_maxrss`` survives ``exec`` on Linux, so in a spawned child
    it can report the parent's size at the fork; ``VmHWM`` belongs to the new address space."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(name: str, n: int) -> tuple[float, float]:
    # a new interpreter, not a fork: a forked child's peak RSS includes whatever the parent process
    # happened to hold (earlier runs, their uncollected garbage), which moved it by +-100 MB
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, n, (FAST, SLOW), queue))
    proc.start()
    seconds, rss_mb = queue.get()
    proc.join()
    return seconds, rss_mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="77k candles only, one repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sma", default="10,20", help="fast,slow SMA lengths (default 10,20)")
    args = parser.parse_args()
    global FAST, SLOW
    FAST, SLOW = (int(x) for x in args.sma.split(","))
    reps = 1 if args.quick else args.reps
    real = load_real()
    # warm up: numba kernels of the SMC set, imports of the peers
    small = real.between(None, int(real.open_time[2000]))
    for warm in (
        lambda d: run_smc(d, "replay"),
        lambda d: run_smc(d, "stream"),
        run_ours,
        run_backtesting_py,
        run_vectorbt,
    ):
        warm(small)

    print(f"SMA cross {FAST}/{SLOW} on {len(real):,} real 5m candles (median of {reps})")
    rows = {}
    for name, fn in (("ours", run_ours), ("backtesting.py", run_backtesting_py), ("vectorbt", run_vectorbt)):
        seconds, cpu, (trades, final) = timed(fn, real, reps)
        rows[name] = seconds
        print(
            f"  {name:15s} {seconds:8.3f} s  (CPU {cpu:.3f} s)  {len(real) / seconds:>12,.0f} candles/s  "
            f"trades={trades} final_equity={final:,.2f}"
        )
    print(
        f"  ratio backtesting.py / ours = {rows['backtesting.py'] / rows['ours']:.2f}x   "
        f"vectorbt / ours = {rows['vectorbt'] / rows['ours']:.2f}x"
    )
    # what the 5x target leaves for an engine: the strategy's own code, run with no engine, against
    # the budget (backtesting.py's time / 5) measured in this run
    alone, _, (crosses, _) = timed(run_strategy_alone, real, reps)
    budget = rows["backtesting.py"] / 5
    print(
        f"  strategy code alone, no engine: {alone:.3f} s ({crosses} crosses) = {alone / budget:.0%} of the 5x "
        f"budget ({budget:.3f} s); left for the engine: {max(budget - alone, 0.0) * 1e6 / len(real):.2f} us "
        "per candle, its orders included"
    )
    idle, _, _ = timed(run_engine_idle, real, reps)
    objects, _, _ = timed(run_candle_objects, real, reps)
    floor = idle + alone - objects  # both make the candle objects: counted once
    rest = rows["ours"] - floor
    print(
        f"  engine with a strategy that does nothing: {idle:.3f} s (of it the candle objects {objects:.3f} s); "
        f"with the strategy code: {floor:.3f} s = {floor / budget:.0%} of the 5x budget before a single "
        f"order; the run's rest {rest:.3f} s: its {2 * crosses:,} orders ({rest * 1e6 / max(2 * crosses, 1):.1f} us "
        "each) and its results"
    )

    print(
        f"SMC strategy (SMC concepts it reads, 5m + 1h, + risk + execution) on {len(real):,} real 5m candles"
    )
    finals = set()
    for label, mode, full in (
        ("replay", "replay", False),
        ("stream", "stream", False),
        ("replay, full SMC set", "replay", True),
    ):
        seconds, cpu, (trades, final) = timed(lambda d, m=mode, f=full: run_smc(d, m, f), real, reps)
        finals.add((trades, round(final, 6)))
        print(
            f"  smc/{label:20s} {seconds:8.3f} s  (CPU {cpu:.3f} s)  {len(real) / seconds:>10,.0f} candles/s  "
            f"({len(real) / cpu:,.0f} per CPU second; target 200,000)  trades={trades}"
        )
    if len(finals) != 1:
        sys.exit(f"the SMC runs disagree: {sorted(finals)}")
    if args.quick:
        return
    n = 1_000_000
    print("1M candles (tiled real 5m series), one run each in a fresh process: time and peak RSS")
    big = {}
    for name in ("ours", "backtesting.py", "vectorbt", "smc"):
        seconds, rss = in_child(name, n)
        big[name] = seconds
        print(f"  {name:15s} {seconds:8.3f} s  {n / seconds:>12,.0f} candles/s  peak RSS {rss:,.0f} MB")
    print(
        f"  ratio backtesting.py / ours = {big['backtesting.py'] / big['ours']:.2f}x   "
        f"vectorbt / ours = {big['vectorbt'] / big['ours']:.2f}x"
    )


if __name__ == "__main__":
    main()
