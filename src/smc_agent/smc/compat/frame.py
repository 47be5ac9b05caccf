"""Input handling shared by the compatibility functions (the peer's column conventions)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

F64 = npt.NDArray[np.float64]


def columns(ohlc: pd.DataFrame, names: str = "ohlc") -> dict[str, F64]:
    """float64 arrays of the requested columns (o, h, l, c, v), matched case-insensitively.

    Raises `LookupError` naming the missing column, like the peer.
    """
    lower = {str(c).lower(): c for c in ohlc.columns}
    full = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
    out = {}
    for key in names:
        name = full[key]
        if name not in lower:
            raise LookupError(f'Must have a dataframe column named "{name}"')
        out[name] = np.ascontiguousarray(ohlc[lower[name]].to_numpy(dtype=np.float64))
    return out


def swing_arrays(swing_highs_lows: pd.DataFrame) -> tuple[F64, F64]:
    """(HighLow, Level) float64 arrays of a `swing_highs_lows` result."""
    hl = np.ascontiguousarray(swing_highs_lows["HighLow"].to_numpy(dtype=np.float64))
    level = np.ascontiguousarray(swing_highs_lows["Level"].to_numpy(dtype=np.float64))
    return hl, level


def frame(**cols: Any) -> pd.DataFrame:
    return pd.concat([pd.Series(v, name=k) for k, v in cols.items()], axis=1)
