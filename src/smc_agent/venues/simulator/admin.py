"""Admin endpoint of the simulator: step the market clock, inject faults, read request counters.

``POST /admin/step {"candles": n}`` or ``{"ms": n}``; ``POST /admin/fault {...}`` with any of
``down_s, slow_ms, errors_5xx, rate_limit_429, retry_after_s, ban_seconds, stale, reject_orders,
lost_acks, lost_ack_hang_s, drop_ws, clear``; ``GET /admin/stats``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from smc_agent.venues.simulator.server import ExchangeSimulator

FAULT_FIELDS = {
    "slow_ms": int,
    "errors_5xx": int,
    "rate_limit_429": int,
    "retry_after_s": int,
    "ban_seconds": float,
    "stale": bool,
    "reject_orders": bool,
    "lost_acks": int,
    "lost_ack_hang_s": float,
}


def register_admin(app: web.Application, sim: ExchangeSimulator) -> None:
    async def step(request: web.Request) -> web.Response:
        body = await _json(request)
        closed = sim.step_ms(int(body["ms"])) if "ms" in body else sim.step(int(body.get("candles", 1)))
        return web.json_response({"closed": closed, "market_now": sim.state.market_now})

    async def fault(request: web.Request) -> web.Response:
        body = await _json(request)
        unknown = set(body) - set(FAULT_FIELDS) - {"down_s", "drop_ws", "clear"}
        if unknown:
            return web.json_response({"error": f"unknown fault fields: {sorted(unknown)}"}, status=400)
        apply_faults(sim, body)
        if body.get("drop_ws"):
            await sim.drop_websockets()
        if body.get("down_s"):
            asyncio.get_running_loop().create_task(sim.outage(float(body["down_s"])))
        return web.json_response({"ok": True})

    async def stats(_request: web.Request) -> web.Response:
        st = sim.state
        return web.json_response(
            {
                "venue": st.config.venue,
                "requests": dict(st.requests),
                "total": sum(st.requests.values()),
                "market_now": st.market_now,
                "ban_remaining_s": st.faults.ban_remaining(),
                "open_orders": len(st.book.open_orders(None)),
            }
        )

    app.router.add_post("/admin/step", step)
    app.router.add_post("/admin/fault", fault)
    app.router.add_get("/admin/stats", stats)


def apply_faults(sim: ExchangeSimulator, body: dict[str, Any]) -> None:
    """Apply fault fields to the simulator (used by the admin route and by in-process tests)."""
    faults = sim.state.faults
    if body.get("clear"):
        faults.clear()
    for name, kind in FAULT_FIELDS.items():
        if name in body:
            setattr(faults, name, kind(body[name]))


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"admin body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="admin body must be a JSON object")
    return data
