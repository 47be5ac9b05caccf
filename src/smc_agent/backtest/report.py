"""Backtest reports: a JSON document and a self-contained HTML page (plotly inlined, no network).

The HTML shows candles with entries, exits and the SMC objects the strategy acted on (zones with
their stop and target), the equity curve, the drawdown, the statistics table and the position still
open at the end.

The JSON holds the statistics, every trade, order, denial and state change exactly, the open position
at the end (``open_position``: quantity, average entry, mark = last close, unrealised PnL; null when
flat), and the equity curve DOWNSAMPLED like the chart: the open time of every ``step``-th bar and the
equity at its close, ``step = bars // 5000`` (1 below 10,000 bars: short runs keep every bar; the last
bar is in only when it falls on the step, its equity is ``stats.final_equity``). The statistics are
computed on the full per-bar curve before downsampling. The full curve is not written: at ~35 bytes a
bar, a million bars would make ~35 MB of JSON.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from smc_agent.backtest.runner import BacktestResult
from smc_agent.backtest.stats import drawdown_series
from smc_agent.backtest.trades import OpenPosition
from smc_agent.core.enums import OrderSide
from smc_agent.core.events import OrderDenied, OrderRejected

MAX_CANDLES = 4_000
MAX_POINTS = 5_000
MAX_SHAPES = 400  # most recent annotated SMC objects drawn


def json_number(value: float | int | str) -> float | int | str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _open_position_json(pos: OpenPosition | None) -> dict[str, Any] | None:
    if pos is None:
        return None
    return {
        "side": "long" if pos.side is OrderSide.BUY else "short",
        "qty": str(pos.qty),
        "avg_entry_price": str(pos.avg_price),
        "mark_price": str(pos.mark_price),
        "unrealized_pnl": str(pos.unrealized_pnl),
        "realized_pnl": str(pos.realized_pnl),
        "fees": str(pos.fees),
        "entry_time": pos.entry_time,
        "entry_tag": pos.entry_tag,
    }


def to_json(result: BacktestResult) -> dict[str, Any]:
    step = max(1, len(result.equity) // MAX_POINTS)
    return {
        "strategy": result.strategy,
        "params": result.params,
        "instrument": {
            "venue": result.instrument.venue,
            "symbol": result.instrument.symbol,
            "timeframe": result.data.timeframe,
        },
        "stats": {k: json_number(v) for k, v in result.stats.items()},
        "trades": [
            {
                "side": t.side.value,
                "qty": str(t.qty),  # the largest size held
                "traded_qty": str(t.traded_qty),  # held over the trade (bought less coin fees)
                "entry_time": t.entry_time,
                "entry_price": str(t.entry_price),
                "exit_time": t.exit_time,
                "exit_price": str(t.exit_price),
                "gross_pnl": str(t.gross_pnl),
                "fees": str(t.fees),
                "pnl": str(t.pnl),
                "entry_tag": t.entry_tag,
                "exit_tag": t.exit_tag,
            }
            for t in result.trades
        ],
        "open_position": _open_position_json(result.open_position),
        "orders": result.orders,
        "denials": [
            {
                "ts": d.ts_event,
                "client_order_id": d.client_order_id,
                "check": d.check,
                "reason": d.reason,
                "figures": dict(d.figures),
            }
            for d in result.denials
        ],
        "rejections": [
            {"ts": r.ts_event, "client_order_id": r.client_order_id, "reason": r.reason}
            for r in result.rejections
        ],
        "state_changes": [
            {
                "ts": s.ts_event,
                "scope": s.scope,
                "previous": s.previous.value,
                "state": s.state.value,
                "reason": s.reason,
            }
            for s in result.state_changes
        ],
        "failures": [{"ts": f.ts_event, "hook": f.hook, "error": f.error} for f in result.failures],
        "annotations": result.annotations,
        "equity_curve": {  # downsampled (see the module docstring); the stats use every bar
            "open_time": result.data.open_time[::step].tolist(),
            "equity": result.equity[::step].tolist(),
            "step": step,
        },
    }


def _display_candles(result: BacktestResult) -> tuple[list[Any], ...]:
    d = result.data
    k = max(1, math.ceil(len(d) / MAX_CANDLES))
    if k == 1:
        return (
            d.open_time.astype("datetime64[ms]").tolist(),
            d.open.tolist(),
            d.high.tolist(),
            d.low.tolist(),
            d.close.tolist(),
        )
    starts = np.arange(0, len(d), k)  # the last group may be shorter: the last candles are drawn too
    t = d.open_time[starts]
    o = d.open[starts]
    h = np.maximum.reduceat(d.high, starts)
    lo = np.minimum.reduceat(d.low, starts)
    c = d.close[np.minimum(starts + k, len(d)) - 1]
    return t.astype("datetime64[ms]").tolist(), o.tolist(), h.tolist(), lo.tolist(), c.tolist()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ms(values: list[int]) -> list[str]:
    return [_iso(v) for v in values]


def build_figure(result: BacktestResult) -> go.Figure:
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.03,
        row_heights=[0.6, 0.25, 0.15],
        subplot_titles=(f"{result.instrument.symbol} {result.data.timeframe}", "Equity", "Drawdown"),
    )
    t, o, h, lo, c = _display_candles(result)
    fig.add_trace(
        go.Candlestick(x=t, open=o, high=h, low=lo, close=c, name="candles", showlegend=False), 1, 1
    )
    # exits first: a reversal's entry on the same bar is drawn on top of the exit, not hidden by it
    fig.add_trace(
        go.Scatter(
            x=_ms([tr.exit_time for tr in result.trades]),
            y=[float(tr.exit_price) for tr in result.trades],
            mode="markers",
            marker={"symbol": "x-thin", "size": 9, "line": {"width": 2, "color": "#111827"}},
            name="exit",
            text=[f"{tr.exit_tag} pnl {float(tr.pnl):.2f}" for tr in result.trades],
        ),
        1,
        1,
    )
    held = result.open_position  # still open at the end: its entry is drawn with the closed trades'
    for side, symbol, color in (("buy", "triangle-up", "#16a34a"), ("sell", "triangle-down", "#dc2626")):
        trades = [tr for tr in result.trades if tr.side.value == side]
        times = [tr.entry_time for tr in trades]
        prices = [float(tr.entry_price) for tr in trades]
        tags = [tr.entry_tag for tr in trades]
        if held is not None and held.side.value == side:
            times.append(held.entry_time)
            prices.append(float(held.avg_price))
            tags.append(f"{held.entry_tag} (open at the end)")
        fig.add_trace(
            go.Scatter(
                x=_ms(times),
                y=prices,
                mode="markers",
                marker={"symbol": symbol, "size": 10, "color": color},
                name=f"{'long' if side == 'buy' else 'short'} entry",
                text=tags,
            ),
            1,
            1,
        )
    bar_ms = int(result.stats.get("end", 0)) - int(result.stats.get("start", 0))
    span = bar_ms / max(1, len(result.data)) * 30
    shapes: list[dict[str, Any]] = []  # built once: fig.add_shape is quadratic in the number of shapes
    for ann in result.annotations[-MAX_SHAPES:]:
        if not {"ts", "top", "bottom"} <= set(ann):
            continue
        start = int(str(ann["ts"]))
        x0, x1 = _iso(start), _iso(int(start + span))
        bullish = float(str(ann.get("direction", 1))) > 0
        fill = "rgba(22,163,74,0.25)" if bullish else "rgba(220,38,38,0.25)"
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "y",
                "x0": x0,
                "x1": x1,
                "y0": ann["bottom"],
                "y1": ann["top"],
                "fillcolor": fill,
                "line": {"width": 0},
            }
        )
        for key, dash in (("stop", "dot"), ("target", "dash")):
            if key in ann:
                shapes.append(
                    {
                        "type": "line",
                        "xref": "x",
                        "yref": "y",
                        "x0": x0,
                        "x1": x1,
                        "y0": ann[key],
                        "y1": ann[key],
                        "line": {"dash": dash, "width": 1},
                    }
                )
    fig.update_layout(shapes=shapes)
    step = max(1, len(result.equity) // MAX_POINTS)
    times = result.data.open_time[::step].astype("datetime64[ms]").tolist()
    fig.add_trace(
        go.Scatter(x=times, y=result.equity[::step].tolist(), name="equity", line={"color": "#2563eb"}), 2, 1
    )
    fig.add_trace(
        go.Scatter(
            x=times,
            y=(drawdown_series(result.equity)[::step] * 100).tolist(),
            name="drawdown %",
            fill="tozeroy",
            line={"color": "#dc2626"},
        ),
        3,
        1,
    )
    fig.update_layout(
        height=900,
        xaxis_rangeslider_visible=False,
        template="plotly_white",
        margin={"l": 50, "r": 20, "t": 40, "b": 30},
    )
    return fig


def _fmt(key: str, value: float | int | str) -> str:
    if key in ("start", "end") and isinstance(value, int):
        return _iso(value)
    if isinstance(value, float):
        pct = ("return", "drawdown", "win_rate", "exposure")
        return f"{value:.2%}" if any(p in key for p in pct) and "duration" not in key else f"{value:,.4f}"
    return html.escape(str(value))


def _denials_html(denials: list[OrderDenied], listed: int = 20) -> str:
    """One row per risk check (how often, first and last time, the first reason), then the first few."""
    if not denials:
        return "<ul><li>none</li></ul>"
    by_check: dict[str, list[OrderDenied]] = {}
    for d in denials:
        by_check.setdefault(d.check or "unnamed", []).append(d)
    rows = "".join(
        f"<tr><td>{html.escape(check)}</td><td>{len(ds)}</td><td>{_iso(ds[0].ts_event)}</td>"
        f"<td>{_iso(ds[-1].ts_event)}</td><td>{html.escape(ds[0].reason)}</td></tr>"
        for check, ds in sorted(by_check.items(), key=lambda kv: -len(kv[1]))
    )
    first = "".join(f"<li>{_iso(d.ts_event)}: {html.escape(d.reason)}</li>" for d in denials[:listed])
    more = f" (first {listed})" if len(denials) > listed else ""
    return (
        "<table><tr><th>check</th><th>denied</th><th>first</th><th>last</th><th>first reason</th></tr>"
        f"{rows}</table><h4>In order{more}</h4><ul>{first}</ul>"
    )


def _rejections_html(rejections: list[OrderRejected], listed: int = 20) -> str:
    """Orders the simulated venue refused (insufficient margin, precision), the first few in order."""
    if not rejections:
        return "<ul><li>none</li></ul>"
    more = f"<p>(first {listed})</p>" if len(rejections) > listed else ""
    items = "".join(
        f"<li>{_iso(r.ts_event)} {html.escape(r.client_order_id)}: {html.escape(r.reason)}</li>"
        for r in rejections[:listed]
    )
    return f"{more}<ul>{items}</ul>"


def describe_open_position(pos: OpenPosition | None) -> str:
    """One line on the position open at the end (the HTML summary and the CLI print it)."""
    if pos is None:
        return "none (flat at the end)"
    side = "long" if pos.side is OrderSide.BUY else "short"
    text = (
        f"{side} {pos.qty} at avg {float(pos.avg_price):,.2f}, mark (last close) {float(pos.mark_price):,.2f}, "
        f"unrealised PnL {float(pos.unrealized_pnl):+,.2f}"
    )
    if pos.realized_pnl:
        text += f", realised by partial exits {float(pos.realized_pnl):+,.2f}"
    return (
        text + f", fees paid {float(pos.fees):,.2f}; opened {_iso(pos.entry_time)} UTC, not counted in trades"
    )


def to_html(result: BacktestResult) -> str:
    fig = build_figure(result)
    chart = fig.to_html(full_html=False, include_plotlyjs=True)
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_fmt(k, v)}</td></tr>" for k, v in result.stats.items()
    )
    params = html.escape(", ".join(f"{k}={v}" for k, v in result.params.items()))
    denials = _denials_html(result.denials)
    states = "".join(
        f"<li>{_iso(s.ts_event)} {s.scope}: {s.previous.value} -> "
        f"{s.state.value} ({html.escape(s.reason)})</li>"
        for s in result.state_changes
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Backtest {html.escape(result.strategy)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem}} table{{border-collapse:collapse}}
th,td{{padding:2px 10px;border-bottom:1px solid #e5e7eb;text-align:left}} .grid{{display:flex;gap:2rem}}</style>
</head><body>
<h1>Backtest: {html.escape(result.strategy)} on {html.escape(result.instrument.symbol)}@{html.escape(result.instrument.venue)}
{html.escape(result.data.timeframe)}</h1>
<p>Parameters: {params}</p>
<p>Open position at the end: {html.escape(describe_open_position(result.open_position))}</p>
<div class="grid"><table>{rows}</table>
<div><h3>Trading state changes</h3><ul>{states or "<li>none</li>"}</ul>
<h3>Risk denials ({len(result.denials)})</h3>{denials}
<h3>Refused by the venue ({len(result.rejections)})</h3>{_rejections_html(result.rejections)}</div></div>
{chart}
</body></html>
"""
