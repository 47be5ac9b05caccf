"""SMC objects for chart overlays, computed causally with the streaming indicators.

Times are candle open times in seconds (what lightweight-charts takes). Order blocks and FVGs are
boxes from the candle that formed them to the candle that mitigated them (or the last candle).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smc_agent.logs import get_logger

log = get_logger("smc_agent.api.overlays")


def smc_overlays(candles: Sequence[tuple[int, float, float, float, float, float]]) -> dict[str, Any]:
    """``candles``: (open time ms, open, high, low, close, volume), oldest first."""
    empty: dict[str, Any] = {"order_blocks": [], "fvgs": [], "structure": [], "liquidity": []}
    if not candles:
        return {**empty, "available": True}
    try:
        from smc_agent.smc import events as ev
        from smc_agent.smc.stream import SMCStream
    except ImportError as exc:  # the indicator layer is not installed in this build
        return {**empty, "available": False, "reason": f"SMC indicators unavailable: {exc}"}
    times = [c[0] // 1000 for c in candles]
    last = times[-1]

    def at(bar: int | None) -> int:
        if bar is None or bar >= len(times):
            return last
        return times[max(0, bar)]

    stream = SMCStream()
    structure: list[dict[str, Any]] = []
    mitigated: dict[tuple[str, int], int] = {}
    swept: set[int] = set()
    try:
        for ts_ms, o, h, low, c, v in candles:
            for event in stream.update(o, h, low, c, v, ts_ms):
                if isinstance(event, ev.StructureBroken):
                    structure.append(
                        {
                            "time": at(event.bar),
                            "kind": event.kind,
                            "direction": int(event.direction),
                            "level": event.level,
                            "from_time": at(event.swing_at),
                        }
                    )
                elif isinstance(event, ev.OrderBlockMitigated):
                    mitigated[("ob", event.block_id)] = event.bar
                elif isinstance(event, ev.FVGMitigated):
                    mitigated[("fvg", event.gap_id)] = event.bar
                elif isinstance(event, ev.LiquiditySwept):
                    swept.add(event.pool_id)
    except Exception as exc:  # bad data must not break the chart: show candles, say why
        log.warning("smc overlays failed", error=str(exc))
        return {**empty, "available": False, "reason": f"SMC computation failed: {exc.__class__.__name__}"}
    blocks = [
        {
            "id": b.id,
            "direction": int(b.direction),
            "top": b.top,
            "bottom": b.bottom,
            "from_time": at(b.formed_at),
            "to_time": at(mitigated.get(("ob", b.id), b.mitigated_at)),
            "mitigated": ("ob", b.id) in mitigated or b.mitigated_at is not None,
        }
        for b in stream.tracked_order_blocks
    ]
    fvgs = [
        {
            "id": g.id,
            "direction": int(g.direction),
            "top": g.top,
            "bottom": g.bottom,
            "from_time": at(g.formed_at),
            "to_time": at(mitigated.get(("fvg", g.id))),
            "mitigated": False,
        }
        for g in stream.active_fvgs
    ]
    liquidity = [
        {
            "id": p.id,
            "direction": int(p.direction),
            "level": p.level,
            "from_time": at(p.first_at),
            "swept": p.id in swept,
        }
        for p in stream.liquidity_pools
    ]
    return {
        "order_blocks": blocks,
        "fvgs": fvgs,
        "structure": structure[-200:],
        "liquidity": liquidity,
        "available": True,
    }
