"""Typed batch results: one struct-of-arrays table per concept, built from the kernel's event log.

Bar fields are int64 bar indices; `-1` means "not (yet) happened". Every table has `confirmed_at`;
a run on `candles[:t + 1]` yields exactly the rows with `confirmed_at <= t`, with lifecycle fields
(`mitigated_at`, `invalidated_at`, `swept_at`, ...) equal to the full run's where those are `<= t`
and `-1` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from .kernel.layout import (
    EV_A,
    EV_B,
    EV_BAR,
    EV_DIR,
    EV_FORMED,
    EV_ID,
    EV_KIND,
    EV_X1,
    EV_X2,
    EV_X3,
    K_BOS,
    K_CHOCH,
    K_FVG_MERGED,
    K_FVG_MITIGATED,
    K_FVG_NEW,
    K_LIQ_NEW,
    K_LIQ_SWEPT,
    K_OB_INVALIDATED,
    K_OB_MITIGATED,
    K_OB_NEW,
    K_PERIOD_BROKEN,
    K_SWING,
)
from .kernel.tables import group_by_kind

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


class Table:
    """Struct-of-arrays base: equal-length columns, `len()`, row filtering and equality helpers."""

    def __len__(self) -> int:
        first = fields(self)[0]  # type: ignore[arg-type]
        return int(getattr(self, first.name).shape[0])

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def rows(self) -> list[dict[str, Any]]:
        cols = self.columns()
        return [{k: v[i].item() for k, v in cols.items()} for i in range(len(self))]


@dataclass(frozen=True, slots=True, eq=False)
class SwingTable(Table):
    direction: I64
    price: F64
    formed_at: I64
    confirmed_at: I64


@dataclass(frozen=True, slots=True, eq=False)
class BreakTable(Table):
    kind: I64  # 1 BOS, 2 CHoCH
    direction: I64
    level: F64
    swing_at: I64
    confirmed_at: I64


@dataclass(frozen=True, slots=True, eq=False)
class OrderBlockTable(Table):
    id: I64
    direction: I64
    top: F64
    bottom: F64
    formed_at: I64
    confirmed_at: I64
    volume: F64
    strength: F64
    mitigated_at: I64
    invalidated_at: I64


@dataclass(frozen=True, slots=True, eq=False)
class FVGTable(Table):
    id: I64
    direction: I64
    top: F64
    bottom: F64
    formed_at: I64
    confirmed_at: I64
    mitigated_at: I64
    merged_at: I64


@dataclass(frozen=True, slots=True, eq=False)
class LiquidityTable(Table):
    id: I64
    direction: I64
    level: F64
    top: F64
    bottom: F64
    first_at: I64
    formed_at: I64
    confirmed_at: I64
    swept_at: I64
    closed_back: I64  # 1 the sweeping candle closed back inside, 0 it closed beyond, -1 not swept


@dataclass(frozen=True, slots=True, eq=False)
class PeriodBreakTable(Table):
    period: I64  # 0 day, 1 week, 2 month
    direction: I64
    level: F64
    confirmed_at: I64


Parts = dict[int, F64]


def split_by_kind(ev: F64) -> Parts:
    """Event rows grouped by kind (emission order kept), by one compiled counting sort.
    Key -1 holds, for the structure kinds, the BOS and CHoCH rows together in emission order."""
    grouped, starts = group_by_kind(ev, K_PERIOD_BROKEN)
    out: Parts = {kind: grouped[starts[kind] : starts[kind + 1]] for kind in range(1, K_PERIOD_BROKEN + 1)}
    kinds = ev[:, EV_KIND]
    out[-1] = ev[(kinds == K_BOS) | (kinds == K_CHOCH)]
    return out


def _i(a: F64) -> I64:
    return a.astype(np.int64)


def _lifecycle(parts: Parts, kind: int, count: int) -> I64:
    out = np.full(count, -1, dtype=np.int64)
    rows = parts[kind]
    out[_i(rows[:, EV_ID])] = _i(rows[:, EV_BAR])
    return out


def swing_table(parts: Parts) -> SwingTable:
    r = parts[K_SWING]
    return SwingTable(_i(r[:, EV_DIR]), r[:, EV_A].copy(), _i(r[:, EV_FORMED]), _i(r[:, EV_BAR]))


def break_table(parts: Parts) -> BreakTable:
    r = parts[-1]
    kind = np.where(r[:, EV_KIND] == K_BOS, 1, 2).astype(np.int64)
    return BreakTable(kind, _i(r[:, EV_DIR]), r[:, EV_A].copy(), _i(r[:, EV_FORMED]), _i(r[:, EV_BAR]))


def order_block_table(parts: Parts) -> OrderBlockTable:
    r = parts[K_OB_NEW]
    n = r.shape[0]
    return OrderBlockTable(
        _i(r[:, EV_ID]),
        _i(r[:, EV_DIR]),
        r[:, EV_A].copy(),
        r[:, EV_B].copy(),
        _i(r[:, EV_FORMED]),
        _i(r[:, EV_BAR]),
        r[:, EV_X1].copy(),
        r[:, EV_X2].copy(),
        _lifecycle(parts, K_OB_MITIGATED, n),
        _lifecycle(parts, K_OB_INVALIDATED, n),
    )


def fvg_table(parts: Parts) -> FVGTable:
    r = parts[K_FVG_NEW]
    n = r.shape[0]
    return FVGTable(
        _i(r[:, EV_ID]),
        _i(r[:, EV_DIR]),
        r[:, EV_A].copy(),
        r[:, EV_B].copy(),
        _i(r[:, EV_FORMED]),
        _i(r[:, EV_BAR]),
        _lifecycle(parts, K_FVG_MITIGATED, n),
        _lifecycle(parts, K_FVG_MERGED, n),
    )


def liquidity_table(parts: Parts) -> LiquidityTable:
    r = parts[K_LIQ_NEW]
    n = r.shape[0]
    swept = parts[K_LIQ_SWEPT]
    back = np.full(n, -1, dtype=np.int64)
    back[_i(swept[:, EV_ID])] = _i(swept[:, EV_X1])
    return LiquidityTable(
        _i(r[:, EV_ID]),
        _i(r[:, EV_DIR]),
        r[:, EV_A].copy(),
        r[:, EV_X2].copy(),
        r[:, EV_X3].copy(),
        _i(r[:, EV_X1]),
        _i(r[:, EV_FORMED]),
        _i(r[:, EV_BAR]),
        _lifecycle(parts, K_LIQ_SWEPT, n),
        back,
    )


def period_break_table(parts: Parts) -> PeriodBreakTable:
    r = parts[K_PERIOD_BROKEN]
    return PeriodBreakTable(_i(r[:, EV_X1]), _i(r[:, EV_DIR]), r[:, EV_A].copy(), _i(r[:, EV_BAR]))
