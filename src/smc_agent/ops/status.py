"""One system status, used by ``smc-agent status`` and ``GET /v1/status``.

Every dependency is probed with its latency; a probe that fails is reported, never raised, so the
status answers even when half the system is down (that is when it is needed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from smc_agent.control.trading import DATA_HEARTBEAT_KEY, HEARTBEAT_KEY, TRADING_HEARTBEAT_KEY
from smc_agent.control.traffic import PublicTraffic
from smc_agent.store import migrate

if TYPE_CHECKING:
    from smc_agent.bootstrap import Container
    from smc_agent.control.failover import FailoverManager


# component: the key its process refreshes with a short TTL, and what its absence means. The order
# gateway's halt guard (execution engine): every 0.2 s, 3 s TTL; without it no engine enforces a halt
# or verifies a resume, and no order is executed. The trading engine's control loop: every 0.2 s, 3 s
# TTL; without it no bot trades. The data pipeline: every second, 5 s TTL; without it no candle comes.
# ``smc-agent run``/``demo`` run all three in one process and set all three keys.
HEARTBEATS = {
    "engine": (HEARTBEAT_KEY, "order gateway (execution-engine)"),
    "trading_engine": (TRADING_HEARTBEAT_KEY, "trading-engine"),
    "data_pipeline": (DATA_HEARTBEAT_KEY, "data-pipeline"),
}


def _probe(func: Callable[[], Any]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        detail = func()
    except Exception as exc:
        return {
            "ok": False,
            "latency_ms": round((time.perf_counter() - start) * 1000, 2),
            "error": f"{exc.__class__.__name__}: {exc}"[:300],
        }
    result: dict[str, Any] = {"ok": True, "latency_ms": round((time.perf_counter() - start) * 1000, 2)}
    if isinstance(detail, dict):
        result.update(detail)
    return result


def _heartbeat(c: Container, key: str, what: str) -> dict[str, Any]:
    result = _probe(lambda: {"heartbeat": c.kv.get(key)})
    if result["ok"] and result.get("heartbeat") is None:
        return {**result, "ok": False, "error": f"no {what} heartbeat ({key})"}
    return result


def _database(c: Container) -> dict[str, Any]:
    with c.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    current = migrate.current_revision(c.engine)
    head = migrate.head_revision(c.settings.effective_database_url)
    return {
        "backend": c.engine.dialect.name,
        "schema_revision": current,
        "schema_head": head,
        "schema_up_to_date": current == head,
    }


def _venue(failover: FailoverManager) -> dict[str, Any]:
    """The failover status without whose positions are stranded (exchange, symbol, quantity, bot):
    those are private figures; anyone may know how many there are (the operator's
    ``smc-agent failover status`` lists them)."""
    venue = failover.status()
    venue["stranded_position_count"] = len(venue.pop("stranded_positions", None) or [])
    return venue


def system_status(c: Container, *, components: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Anonymous-safe status: trading state and reason, venue/failover, dependency health."""
    database = _probe(lambda: _database(c))
    control_store = _probe(lambda: {"backend": c.kv.name, "rtt_ms": round(c.kv.ping() * 1000, 3)})
    trading: dict[str, Any]
    snapshot = None
    if not database["ok"]:
        trading = {"state": "halted", "reason": "database unreachable: trading halted (fail closed)"}
    elif database.get("schema_revision") is None:
        trading = {"state": "halted", "reason": "the database has no schema: run `smc-agent db upgrade`"}
    else:
        try:
            snapshot = c.trading_control.observe()
        except Exception as exc:  # a schema behind the code's, a lost connection: halted, say why
            trading = {
                "state": "halted",
                "reason": f"trading state unreadable: {type(exc).__name__}: {exc}"[:300],
            }
    if snapshot is not None:
        trading = {
            "state": snapshot.state.value,
            "reason": snapshot.reason,
            "halt_key_present": snapshot.halt_key_present,
            "latch": None if snapshot.latch is None else snapshot.latch.status,
        }
    manager = c.failover  # built here: a configuration that cannot work is an error, not a probe's
    failover = _probe(lambda: _venue(manager))
    public_traffic = _probe(lambda: {"blocked": PublicTraffic(c.kv).current() is not None})
    deps = {"database": database, "control_store": control_store}
    comps = dict(components or {})
    for name, (key, what) in HEARTBEATS.items():
        comps.setdefault(name, _heartbeat(c, key, what))
    healthy = (
        all(d["ok"] for d in deps.values())
        and failover["ok"]
        and all(v.get("ok", True) for v in comps.values())
    )
    return {
        "status": "ok" if healthy else "degraded",
        "trading": trading,
        "venue": failover,
        "public_traffic": public_traffic,
        "dependencies": deps,
        "components": comps,
    }
