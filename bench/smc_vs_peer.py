"""Benchmark: our SMC functions vs the smartmoneyconcepts 0.0.27 peer, measured in the same run.

    uv run python bench/smc_vs_peer.py            # full run (peer at 100k rows takes a few minutes)
    uv run python bench/smc_vs_peer.py --quick    # smaller sizes, fewer repeats
    uv run python bench/smc_vs_peer.py --only liquidity --repeat 21   # some functions, no 1M / stream

Prints per-function medians and ratios (peer / ours) for:
  - real BTC/USDT 5m candles (shared data, ~77k rows) and 100k synthetic rows: our causal batch
    functions and our compat functions (identical outputs to the peer) vs the peer;
  - the full causal indicator set on 1M synthetic rows, median of 5, wall and CPU seconds (target < 2 s
    on one core);
  - streaming: SMCStream.update latency per candle over 100k candles (p50 / p99 / max; target p99 < 50 us).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from smc_agent.smc import batch
from smc_agent.smc import compat as ours_compat
from smc_agent.smc.candles import Candles
from smc_agent.smc.config import SessionSpec, SMCConfig
from smc_agent.smc.stream import SMCStream

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from smartmoneyconcepts.smc import smc as peer

ROOT = Path(__file__).resolve().parents[1]
BTC_5M = ROOT / ".." / "shared" / "data" / "ohlcv" / "binance_2024" / "binance_spot_BTCUSDT_5m.csv"
LONDON = SMCConfig(sessions=(SessionSpec("London", "UTC", "07:00", "16:00"),))


def synthetic(n: int, seed: int = 7) -> Candles:
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.0008, n))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.0008, n))
    ts = 1_600_000_000_000 + np.arange(n, dtype=np.int64) * 300_000
    return Candles.from_arrays(
        open=open_, high=high, low=low, close=close, volume=rng.exponential(5.0, n), ts_ms=ts
    )


def frame(c: Candles) -> pd.DataFrame:
    return pd.DataFrame(
        {"open": c.open, "high": c.high, "low": c.low, "close": c.close, "volume": c.volume},
        index=pd.to_datetime(c.ts_ms, unit="ms"),
    )


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def median_wall_cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of this process (the cost on one core even when
    other work shares the cores)."""
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def cases(
    c: Candles, df: pd.DataFrame
) -> list[tuple[str, Callable[[], Any], Callable[[], Any], Callable[[], Any]]]:
    """(peer function name, peer call, our causal call, our compat call)."""
    shl_peer = peer.swing_highs_lows(df.copy(), swing_length=5)
    shl_ours = ours_compat.swing_highs_lows(df, swing_length=5)
    cfg = SMCConfig(swing_length=5)
    return [
        (
            "swing_highs_lows",
            lambda: peer.swing_highs_lows(df, 5),
            lambda: batch.swings(c, cfg),
            lambda: ours_compat.swing_highs_lows(df, 5),
        ),
        ("fvg", lambda: peer.fvg(df), lambda: batch.fvgs(c, cfg), lambda: ours_compat.fvg(df)),
        (
            "bos_choch",
            lambda: peer.bos_choch(df, shl_peer),
            lambda: batch.structure(c, cfg),
            lambda: ours_compat.bos_choch(df, shl_ours),
        ),
        (
            "ob",
            lambda: peer.ob(df, shl_peer),
            lambda: batch.order_blocks(c, cfg),
            lambda: ours_compat.ob(df, shl_ours),
        ),
        (
            "liquidity",
            lambda: peer.liquidity(df, shl_peer),
            lambda: batch.liquidity(c, cfg),
            lambda: ours_compat.liquidity(df, shl_ours),
        ),
        (
            "previous_high_low",
            lambda: peer.previous_high_low(df, "1D"),
            lambda: batch.previous_high_low(c, cfg),
            lambda: ours_compat.previous_high_low(df, "1D"),
        ),
        (
            "sessions",
            lambda: peer.sessions(df.copy(), "London"),
            lambda: batch.sessions(c, LONDON),
            lambda: ours_compat.sessions(df, "London"),
        ),
        (
            "retracements",
            lambda: peer.retracements(df, shl_peer),
            lambda: batch.retracements(c, cfg),
            lambda: ours_compat.retracements(df, shl_ours),
        ),
    ]


def stream_latency(c: Candles) -> tuple[float, float, float, float]:
    s = SMCStream(SMCConfig())
    o, h, lo, cl, v, ts = (a.tolist() for a in (c.open, c.high, c.low, c.close, c.volume, c.ts_ms))
    for i in range(200):  # warm-up (compiled kernel load)
        s.update(o[i], h[i], lo[i], cl[i], v[i], ts[i])
    lat = np.empty(len(c) - 200)
    gc.disable()
    try:
        for i in range(200, len(c)):
            t = time.perf_counter_ns()
            s.update(o[i], h[i], lo[i], cl[i], v[i], ts[i])
            lat[i - 200] = time.perf_counter_ns() - t
    finally:
        gc.enable()
    lat /= 1000.0
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), float(lat.max()), float(lat.mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20k / 200k rows, fewer repeats")
    ap.add_argument("--repeat", type=int, default=5, help="repeats of our functions (peer: 3)")
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated peer function names (e.g. liquidity): only those, no 1M full set / streaming",
    )
    args = ap.parse_args()
    only = {name for name in args.only.split(",") if name}
    console = Console()
    console.print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    n_syn, n_big, n_stream = (20_000, 200_000, 20_000) if args.quick else (100_000, 1_000_000, 100_000)
    datasets: list[tuple[str, Candles]] = []
    if BTC_5M.exists():
        datasets.append((f"BTC/USDT 5m ({BTC_5M.name})", Candles.from_frame(pd.read_csv(BTC_5M))))
    else:
        console.print(f"[yellow]shared data not found at {BTC_5M}: real-candle section skipped")
    datasets.append((f"synthetic {n_syn:,} rows", synthetic(n_syn)))
    peer_repeat = 1 if args.quick else 3

    # warm the compiled code (numba cache load / compile) outside the timings
    warm = synthetic(2_000)
    batch.analyze(warm)
    for _, _, mine, compat in cases(warm, frame(warm)):
        mine()
        compat()

    n_cases = len([name for name, *_ in cases(warm, frame(warm)) if not only or name in only])
    total = len(datasets) * n_cases + (0 if only else 2)
    results: dict[str, list[tuple[str, float, float, float]]] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("benchmarking", total=total)
        for label, c in datasets:
            df = frame(c)
            rows = []
            for name, p, mine, compat in cases(c, df):
                if only and name not in only:
                    continue
                progress.update(task, description=f"{label}: {name}")
                t_peer = median_time(p, peer_repeat)
                t_ours = median_time(mine, args.repeat)
                t_compat = median_time(compat, args.repeat)
                rows.append((name, t_peer, t_ours, t_compat))
                progress.advance(task)
            results[label] = rows
        if not only:
            progress.update(task, description=f"full causal set, {n_big:,} rows")
            big = synthetic(n_big, seed=11)
            t_big, cpu_big = median_wall_cpu(lambda: batch.analyze(big), 5)
            progress.advance(task)
            progress.update(task, description=f"streaming, {n_stream:,} candles")
            p50, p99, worst, mean = stream_latency(synthetic(n_stream, seed=5))
            progress.advance(task)

    for label, rows in results.items():
        table = Table(title=f"{label}: median seconds (peer x{peer_repeat}, ours x{args.repeat})")
        for col in ("function", "peer", "ours causal", "ratio", "ours compat", "ratio"):
            table.add_column(col, justify="right")
        for name, tp, to, tc in rows:
            table.add_row(name, f"{tp:.4f}", f"{to:.4f}", f"{tp / to:,.0f}x", f"{tc:.4f}", f"{tp / tc:,.0f}x")
        console.print(table)
    if not only:
        console.print(
            f"full causal indicator set (analyze), {n_big:,} rows: median {t_big:.3f} s wall, "
            f"{cpu_big:.3f} s CPU (target < 2 s)"
        )
        console.print(
            f"streaming SMCStream.update, full set, {n_stream - 200:,} candles: p50 {p50:.1f} us, "
            f"p99 {p99:.1f} us, max {worst:.1f} us, mean {mean:.1f} us (target p99 < 50 us)"
        )
    console.print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
