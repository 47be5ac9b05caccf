"""`smc-agent analyze CSV --out chart.html [--png]`: run the causal SMC indicator set on a candle CSV and
draw an interactive chart (plotly) of the detected objects.

Drawn: candles; order blocks as boxes from their candle until mitigated (or invalidated / the end);
fair value gaps likewise; BOS / CHoCH as a line from the broken swing to the breaking candle with a
label; liquidity pools (equal highs / lows) as dotted lines until swept, sweeps as crosses; confirmed
swings; the dealing range equilibrium; one session as shaded background. Long files stay readable:
only the last `--bars` candles are drawn (objects are still computed on the whole file, causally),
and a window wider than `--max-candles` is aggregated into OHLC buckets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from smc_agent.cli.candle_csv import load_csv
from smc_agent.smc import batch
from smc_agent.smc.candles import CandleError, Candles
from smc_agent.smc.config import SMCConfig

console = Console(stderr=True)
BULL, BEAR = "38,166,91", "214,39,40"
MAX_SHAPES = 1500
MAX_LABELS = 300


def _bucket_ohlc(c: Candles, lo: int, hi: int, width: int) -> tuple[pd.DataFrame, int]:
    """Candles lo..hi-1 as OHLC rows of `width` bars each; returns the frame and the bucket width."""
    idx = np.arange(lo, hi)
    key = (idx - lo) // width
    df = pd.DataFrame(
        {
            "k": key,
            "ts": c.ts_ms[lo:hi],
            "open": c.open[lo:hi],
            "high": c.high[lo:hi],
            "low": c.low[lo:hi],
            "close": c.close[lo:hi],
        }
    )
    g = df.groupby("k")
    out = pd.DataFrame(
        {
            "ts": g["ts"].first(),
            "open": g["open"].first(),
            "high": g["high"].max(),
            "low": g["low"].min(),
            "close": g["close"].last(),
        }
    )
    return out, width


def _box(x0: Any, x1: Any, y0: float, y1: float, rgb: str, alpha: float) -> dict[str, Any]:  # noqa: PLR0917
    return {
        "type": "rect",
        "xref": "x",
        "yref": "y",
        "x0": x0,
        "x1": x1,
        "y0": y0,
        "y1": y1,
        "fillcolor": f"rgba({rgb},{alpha})",
        "line": {"width": 0},
        "layer": "below",
    }


def _line(x0: Any, x1: Any, y: float, rgb: str, dash: str, width: float = 1.2) -> dict[str, Any]:  # noqa: PLR0917
    return {
        "type": "line",
        "xref": "x",
        "yref": "y",
        "x0": x0,
        "x1": x1,
        "y0": y,
        "y1": y,
        "line": {"color": f"rgb({rgb})", "width": width, "dash": dash},
    }


def build_figure(
    c: Candles, result: batch.SMCResult, *, lo: int, hi: int, max_candles: int, title: str
) -> Any:
    """The plotly figure of candles lo..hi-1 with every object that is visible in that window."""
    import plotly.graph_objects as go

    width = max(1, -(-(hi - lo) // max_candles))
    ohlc, width = _bucket_ohlc(c, lo, hi, width)
    times = pd.to_datetime(c.ts_ms, unit="ms")

    def x(bar: int) -> Any:
        return times[min(max(bar, lo), hi - 1)]

    def end_of(*bars: int) -> int:
        done = [b for b in bars if b >= 0]
        return min(done) if done else hi - 1

    pad = 0.08 * float(c.high[lo:hi].max() - c.low[lo:hi].min())
    y_lo, y_hi = float(c.low[lo:hi].min()) - pad, float(c.high[lo:hi].max()) + pad

    def visible(bottom: float, top: float) -> bool:
        return top >= y_lo and bottom <= y_hi

    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    ob = result.order_blocks
    for i in range(len(ob)):
        end = end_of(int(ob.mitigated_at[i]), int(ob.invalidated_at[i]))
        if end < lo or ob.formed_at[i] >= hi or not visible(ob.bottom[i], ob.top[i]):
            continue
        rgb = BULL if ob.direction[i] > 0 else BEAR
        shapes.append(_box(x(int(ob.formed_at[i])), x(end), ob.bottom[i], ob.top[i], rgb, 0.28))
    fv = result.fvgs
    for i in range(len(fv)):
        end = end_of(int(fv.mitigated_at[i]), int(fv.merged_at[i]))
        if end < lo or fv.formed_at[i] >= hi or not visible(fv.bottom[i], fv.top[i]):
            continue
        rgb = "120,180,230" if fv.direction[i] > 0 else "240,160,90"
        shapes.append(_box(x(int(fv.formed_at[i])), x(end), fv.bottom[i], fv.top[i], rgb, 0.30))
    br = result.breaks
    for i in range(len(br)):
        if br.confirmed_at[i] < lo or br.swing_at[i] >= hi:
            continue
        rgb = BULL if br.direction[i] > 0 else BEAR
        shapes.append(_line(x(int(br.swing_at[i])), x(int(br.confirmed_at[i])), br.level[i], rgb, "solid"))
        annotations.append(
            {
                "x": x(int(br.confirmed_at[i])),
                "y": br.level[i],
                "text": "BOS" if br.kind[i] == 1 else "CHoCH",
                "showarrow": False,
                "font": {"size": 9, "color": f"rgb({rgb})"},
                "yshift": 7 if br.direction[i] > 0 else -7,
                "xanchor": "right",
            }
        )
    lq = result.liquidity
    sweep_x, sweep_y = [], []
    for i in range(len(lq)):
        end = end_of(int(lq.swept_at[i]))
        if end < lo or lq.first_at[i] >= hi or not visible(lq.level[i], lq.level[i]):
            continue
        shapes.append(_line(x(int(lq.first_at[i])), x(end), lq.level[i], "128,0,128", "dot", 1.5))
        if lq.swept_at[i] >= lo:
            sweep_x.append(x(int(lq.swept_at[i])))
            sweep_y.append(lq.level[i])
    session = next(iter(result.sessions.items()), None)
    if session is not None and width == 1:
        active = session[1].active[lo:hi].astype(np.int8)
        edges = np.flatnonzero(np.diff(np.r_[0, active, 0]))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": x(lo + int(start)),
                    "x1": x(lo + int(stop) - 1),
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": "rgba(200,200,200,0.18)",
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
    sw = result.swings
    keep = (sw.formed_at >= lo) & (sw.formed_at < hi) & (width == 1)  # markers only at full resolution
    shapes.sort(key=lambda sh: str(sh["x1"]))  # chronological by end; trimming keeps the recent ones
    shapes = shapes[-MAX_SHAPES:]  # keep the chart responsive on long windows
    annotations = annotations[-MAX_LABELS:] if width == 1 else []  # labels only at full resolution
    fig = go.Figure()
    fig.add_trace(
        go.Candlestick(
            x=pd.to_datetime(ohlc["ts"], unit="ms"),
            open=ohlc["open"],
            high=ohlc["high"],
            low=ohlc["low"],
            close=ohlc["close"],
            name=f"candles ({width} bar{'s' if width > 1 else ''} each)",
        )
    )
    for d, sym, name in ((1, "triangle-down", "swing high"), (-1, "triangle-up", "swing low")):
        m = keep & (sw.direction == d)
        fig.add_trace(
            go.Scatter(
                x=times[sw.formed_at[m]],
                y=sw.price[m],
                mode="markers",
                name=name,
                marker={"symbol": sym, "size": 6, "color": f"rgb({BEAR if d > 0 else BULL})"},
            )
        )
    eq = result.structure.equilibrium[lo:hi]
    fig.add_trace(
        go.Scatter(
            x=times[lo:hi],
            y=eq,
            mode="lines",
            name="equilibrium (premium above)",
            line={"color": "rgba(90,90,90,0.6)", "width": 1, "dash": "dash"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=sweep_x,
            y=sweep_y,
            mode="markers",
            name="liquidity sweep",
            marker={"symbol": "x", "size": 9, "color": "rgb(128,0,128)"},
        )
    )
    # the boxes and levels are layout shapes, which have no legend entries of their own: keys for them
    keys = [
        ("order block, bullish", "square", f"rgba({BULL},0.45)"),
        ("order block, bearish", "square", f"rgba({BEAR},0.45)"),
        ("FVG, bullish", "square", "rgba(120,180,230,0.6)"),
        ("FVG, bearish", "square", "rgba(240,160,90,0.6)"),
        ("liquidity level (until swept)", "line-ew-open", "rgb(128,0,128)"),
    ]
    if session is not None and width == 1:
        keys.append((f"session: {session[0]}", "square", "rgba(200,200,200,0.6)"))
    for name, symbol, color in keys:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=name,
                marker={"symbol": symbol, "size": 12, "color": color, "line": {"color": color, "width": 2}},
            )
        )
    fig.update_layout(
        title=title,
        shapes=shapes,
        annotations=annotations,
        xaxis_rangeslider_visible=False,
        template="plotly_white",
        height=800,
        legend={"orientation": "h", "y": -0.08},
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
    )
    return fig


def write_png(fig: Any, path: Path, *, width: int = 1600, height: int = 900) -> None:
    """PNG through kaleido 0.2.1 (the pinned version) with the plotly.js that ships with plotly: the
    kaleido-bundled plotly.js is too old for current figure JSON, and plotly's own `write_image` wants
    kaleido >= 1."""
    import json

    import plotly
    from kaleido.scopes.plotly import PlotlyScope

    scope = PlotlyScope(plotlyjs=str(Path(plotly.__file__).parent / "package_data" / "plotly.min.js"))
    path.write_bytes(scope.transform(json.loads(fig.to_json()), format="png", width=width, height=height))


def analyze(  # noqa: PLR0917 - Typer maps parameters onto CLI options
    csv: Annotated[
        Path, typer.Argument(help="Candle CSV (timestamp_ms or a date column; open, high, low, close).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output HTML file.")] = Path("chart.html"),
    png: Annotated[bool, typer.Option("--png", help="Also write a PNG next to the HTML (kaleido).")] = False,
    bars: Annotated[int, typer.Option("--bars", min=10, help="Draw the last N candles.")] = 600,
    max_candles: Annotated[int, typer.Option("--max-candles", min=50, help="Aggregate beyond this.")] = 2000,
    swing_length: Annotated[
        int, typer.Option("--swing-length", min=1, help="Bars each side of a pivot.")
    ] = 5,
    repair: Annotated[bool, typer.Option("--repair", help="Repair bad rows instead of failing.")] = False,
) -> None:
    """Detect SMC objects in a CSV (causal, whole file) and draw the last --bars candles."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as p:
        task = p.add_task(f"reading {csv}", total=4)
        try:
            candles = load_csv(csv, repair=repair)
        except (CandleError, OSError, ValueError) as exc:  # OSError: a directory, unreadable, missing
            console.print(f"[bold red]{escape(str(csv))}:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
        p.update(task, advance=1, description=f"analysing {len(candles):,} candles")
        result = batch.analyze(candles, SMCConfig(swing_length=swing_length))
        p.update(task, advance=1, description="building chart")
        hi = len(candles)
        lo = max(0, hi - bars)
        fig = build_figure(
            candles, result, lo=lo, hi=hi, max_candles=max_candles, title=f"{csv.name}: causal SMC"
        )
        p.update(task, advance=1, description=f"writing {out}")
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.write_html(out, include_plotlyjs="cdn")
        if png:
            write_png(fig, out.with_suffix(".png"))
        p.update(task, advance=1)
    for note in candles.repairs:
        console.print(f"repaired: {note}")
    console.print(
        f"{len(result.order_blocks)} order blocks, {len(result.fvgs)} FVGs, {len(result.breaks)} BOS/CHoCH, "
        f"{len(result.liquidity)} liquidity pools -> {out}"
        + (f" and {out.with_suffix('.png')}" if png else "")
    )
