"""A sweep's results as a chart: the ranking statistic over the grid (a heatmap of the first two
parameters that vary, each cell the best run over the others; a line for a single parameter)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import plotly.graph_objects as go

from smc_agent.backtest.sweep import HIGHER_IS_WORSE, SweepRow, value_of


def _axis(rows: Sequence[SweepRow], key: str) -> list[str]:
    """The values ``key`` takes, numerically ordered when they are all numbers, else in grid order."""
    seen = list(dict.fromkeys(str(r.params[key]) for r in rows))
    try:
        return sorted(seen, key=float)
    except ValueError:
        return seen


def _better(a: float, b: float, metric: str) -> float:
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return min(a, b) if metric in HIGHER_IS_WORSE else max(a, b)


def sweep_figure(rows: Sequence[SweepRow], metric: str) -> go.Figure:
    varying = [k for k in (rows[0].params if rows else {}) if len({str(r.params[k]) for r in rows}) > 1]
    fig = go.Figure()
    if len(varying) >= 2:
        xk, yk = varying[:2]
        xs, ys = _axis(rows, xk), _axis(rows, yk)
        z = [[math.nan] * len(xs) for _ in ys]
        for r in rows:
            i, j = xs.index(str(r.params[xk])), ys.index(str(r.params[yk]))
            z[j][i] = _better(z[j][i], value_of(r, metric), metric)
        scale = "RdYlGn_r" if metric in HIGHER_IS_WORSE else "RdYlGn"
        fig.add_trace(
            go.Heatmap(x=xs, y=ys, z=z, colorscale=scale, texttemplate="%{z:.3f}", colorbar={"title": metric})
        )
        rest = f" (best over {', '.join(varying[2:])})" if len(varying) > 2 else ""
        fig.update_layout(xaxis_title=xk, yaxis_title=yk, title=f"{metric} by {xk} and {yk}{rest}")
        fig.update_xaxes(type="category")
        fig.update_yaxes(type="category")
    else:
        key = varying[0] if varying else None
        xs = _axis(rows, key) if key else ["run"]
        best = dict.fromkeys(xs, math.nan)
        for r in rows:
            x = str(r.params[key]) if key else "run"
            best[x] = _better(best[x], value_of(r, metric), metric)
        fig.add_trace(go.Scatter(x=xs, y=list(best.values()), mode="lines+markers", name=metric))
        fig.update_layout(xaxis_title=key or "", yaxis_title=metric, title=f"{metric} by {key or 'run'}")
        fig.update_xaxes(type="category")
    fig.update_layout(template="plotly_white", height=560)
    return fig


def sweep_html(rows: Sequence[SweepRow], metric: str, title: str) -> str:
    """A self-contained page: the chart, then every run ranked (errors last, with their reason)."""
    chart = sweep_figure(rows, metric).to_html(full_html=False, include_plotlyjs=True)
    body = "".join(
        f"<tr><td>{html.escape(', '.join(f'{k}={v}' for k, v in r.params.items()))}</td>"
        f"<td>{value_of(r, metric):.4f}</td><td>{html.escape(r.error or r.note)}</td></tr>"
        for r in rows
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem}} table{{border-collapse:collapse}}
th,td{{padding:2px 10px;border-bottom:1px solid #e5e7eb;text-align:left}}</style></head><body>
<h1>{html.escape(title)}</h1>{chart}
<table><tr><th>parameters</th><th>{html.escape(metric)}</th><th>error / note</th></tr>{body}</table>
</body></html>
"""
