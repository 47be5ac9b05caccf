"""Peer-compatible `ob` (smartmoneyconcepts 0.0.27 semantics, own implementation).

Reproduced, first for bullish then for bearish blocks (one pass each over the candles, sharing the
result and "breaker" arrays, prices stored as float32):
- at candle i, a close above the high of the last swing high before i (each swing used once) makes the
  lowest-low candle strictly between that swing and i the bullish block (last one on ties; candle i-1
  with top/bottom swapped when there is no candle in between); volume = v[i] + v[i-1] + v[i-2],
  Percentage = min(v[i] + v[i-1], v[i-2]) / max(...) * 100 in float32 (100 when both are 0);
- an active bullish block whose bottom is traded below (low, or min(open, close) with
  close_mitigation) becomes a breaker, MitigatedIndex = i - 1 (bearish: i -- a peer defect);
- a breaker whose top is traded above (bearish: bottom below) is erased from the history.
Bearish blocks mirror this with swing lows and the highest-high candle.
"""

# ruff: noqa: PLR0917  (compiled kernels take their arrays positionally; numba has no kw-only)

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..kernel.jit import jit
from ..kernel.tables import F64
from .frame import columns, frame, swing_arrays

F32 = np.float32


@jit
def _pass(
    bull: bool,
    o: F64,
    h: F64,
    lo: F64,
    c: F64,
    v: F64,
    hl: F64,
    close_mit: bool,
    ob: F64,
    top: F64,
    bottom: F64,
    vol: F64,
    pct: F64,
    mit: F64,
    breaker: F64,
    crossed: F64,
) -> None:
    n = c.shape[0]
    active = np.empty(n, dtype=np.int64)  # may hold an index twice, like the peer's list
    count = 0
    # a scan can change something only if a non-breaker can be mitigated or a breaker erased
    trig_nb = -math.inf if bull else math.inf
    trig_br = math.inf if bull else -math.inf
    last_swing = -1
    for i in range(n):
        mit_px = (min(o[i], c[i]) if bull else max(o[i], c[i])) if close_mit else (lo[i] if bull else h[i])
        scan = (mit_px < trig_nb or h[i] > trig_br) if bull else (mit_px > trig_nb or lo[i] < trig_br)
        if scan and count > 0:
            trig_nb = -math.inf if bull else math.inf
            trig_br = math.inf if bull else -math.inf
            w = 0
            for r in range(count):
                idx = active[r]
                keep = True
                if breaker[idx] > 0.5:
                    if (bull and h[i] > top[idx]) or (not bull and lo[i] < bottom[idx]):
                        ob[idx] = 0.0
                        top[idx] = 0.0
                        bottom[idx] = 0.0
                        vol[idx] = 0.0
                        mit[idx] = 0.0
                        pct[idx] = 0.0
                        keep = False
                elif (bull and mit_px < bottom[idx]) or (not bull and mit_px > top[idx]):
                    breaker[idx] = 1.0
                    mit[idx] = i - 1 if bull else i
                if keep:
                    active[w] = idx
                    w += 1
            count = w
            for r in range(count):
                idx = active[r]
                if breaker[idx] > 0.5:
                    trig_br = min(trig_br, top[idx]) if bull else max(trig_br, bottom[idx])
                else:
                    trig_nb = max(trig_nb, bottom[idx]) if bull else min(trig_nb, top[idx])
        if i > 0 and hl[i - 1] == (1.0 if bull else -1.0):
            last_swing = i - 1
        if last_swing < 0 or crossed[last_swing] > 0.5:
            continue
        if (bull and c[i] > h[last_swing]) or (not bull and c[i] < lo[last_swing]):
            crossed[last_swing] = 1.0
            idx = i - 1
            if bull:
                t, b = lo[idx], h[idx]
            else:
                t, b = h[idx], lo[idx]
            if i - last_swing > 1:
                idx = last_swing + 1
                for j in range(last_swing + 1, i):
                    if (bull and lo[j] <= lo[idx]) or (not bull and h[j] >= h[idx]):
                        idx = j
                t, b = h[idx], lo[idx]
            ob[idx] = 1.0 if bull else -1.0
            top[idx] = F32(t)
            bottom[idx] = F32(b)
            v0 = v[i]
            v1 = v[i - 1] if i >= 1 else 0.0
            v2 = v[i - 2] if i >= 2 else 0.0
            vol[idx] = F32(v0 + v1 + v2)
            recent = F32(v0 + v1)
            older = F32(v2)
            hi_v = max(recent, older)
            pct[idx] = F32(min(recent, older) / hi_v * F32(100.0)) if hi_v != 0 else 100.0
            active[count] = idx
            count += 1
            if breaker[idx] > 0.5:
                trig_br = min(trig_br, top[idx]) if bull else max(trig_br, bottom[idx])
            else:
                trig_nb = max(trig_nb, bottom[idx]) if bull else min(trig_nb, top[idx])


def ob(ohlc: pd.DataFrame, swing_highs_lows: pd.DataFrame, close_mitigation: bool = False) -> pd.DataFrame:
    """Columns OB, Top, Bottom, OBVolume, MitigatedIndex, Percentage."""
    col = columns(ohlc, "ohlcv")
    hl, _ = swing_arrays(swing_highs_lows)
    n = hl.shape[0]
    ob_, top, bottom, vol, pct, mit, breaker, crossed = (np.zeros(n) for _ in range(8))
    args = (col["open"], col["high"], col["low"], col["close"], col["volume"], hl, bool(close_mitigation))
    for bull in (True, False):
        _pass(bull, *args, ob_, top, bottom, vol, pct, mit, breaker, crossed)
    ob_ = np.where(ob_ != 0, ob_, np.nan)
    valid = ~np.isnan(ob_)
    return frame(
        OB=ob_,
        Top=np.where(valid, top.astype(np.float32), np.nan),
        Bottom=np.where(valid, bottom.astype(np.float32), np.nan),
        OBVolume=np.where(valid, vol.astype(np.float32), np.nan),
        MitigatedIndex=np.where(valid, mit, np.nan),
        Percentage=np.where(valid, pct.astype(np.float32), np.nan),
    )
