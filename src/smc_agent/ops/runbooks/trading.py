"""Runbooks on the trading state and venues: halt, resume, exchange failover, complete outage."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from smc_agent.control.trading import HEARTBEAT_KEY
from smc_agent.core.enums import TradingState
from smc_agent.ops.incidents.priority import Priority
from smc_agent.ops.runbooks.framework import Runbook, RunContext, Skip, Step
from smc_agent.store.db import transaction
from smc_agent.store.models import Trade

NS = "-n smc-trading"
K_HALT = (
    f'kubectl exec -it deployment/trading-engine {NS} -- python -c "import redis; '
    "r = redis.Redis(host='redis', port=6379); r.set('emergency_halt', 'true'); r.expire('emergency_halt', 3600)\""
)
K_RESUME = (
    f'kubectl exec -it deployment/trading-engine {NS} -- python -c "import redis; '
    "r = redis.Redis(host='redis', port=6379); r.delete('emergency_halt')\"; "
    f"kubectl logs -f deployment/trading-engine {NS} | grep -i 'trading resumed'"
)
K_FAILOVER = (
    f'kubectl exec -it deployment/trading-engine {NS} -- python -c "from '
    "data_pipeline.exchange_connectors.failover_manager import FailoverManager; "
    "FailoverManager().activate_failover('binance', 'bybit')\""
)
K_TRADES = (
    f'kubectl exec -it postgres-primary {NS} -- psql -U postgres -d smc_trading -c "SELECT exchange, '
    "COUNT(*) as trade_count FROM trades WHERE timestamp > NOW() - INTERVAL '5 minutes' GROUP BY exchange;\""
)


# ------------------------------------------------------------------ shared steps
def _halted(ctx: RunContext) -> bool:
    return bool(ctx.services.trading_control.observe().state is TradingState.HALTED)


def halt_step() -> Step:
    def act(ctx: RunContext) -> str:
        reason = str(ctx.params.get("reason") or "runbook: emergency trading halt")
        snap = ctx.services.trading_control.halt(reason=reason, actor=ctx.actor, source="runbook")
        return f"trading {snap.state.value}: {snap.reason}"

    return Step(
        "emergency-halt",
        "Halt all trading now (emergency_halt, latched in the database)",
        act,
        verification=lambda ctx: None if _halted(ctx) else "trading is not halted after the halt",
        precondition=lambda ctx: Skip("trading is already halted") if _halted(ctx) else None,
        kubectl=K_HALT,
    )


def dependencies_step() -> Step:
    def act(ctx: RunContext) -> str:
        db = ctx.services.journal.ping() * 1000
        kv = ctx.services.kv.ping() * 1000
        ctx.notes["dependencies_ok"] = True
        return f"database {db:.1f} ms, control store {ctx.services.kv.name} {kv:.1f} ms"

    return Step(
        "verify-dependencies",
        "Database and control store answer",
        act,
        kubectl=f"kubectl exec -it postgres-primary {NS} -- pg_isready; kubectl exec -it redis-0 {NS} -- redis-cli ping",
    )


# ------------------------------------------------------------------ resume
def _release(ctx: RunContext) -> str:
    control = ctx.services.trading_control
    reason = str(ctx.params.get("reason") or "runbook: verified recovery")
    control.request_release(reason=reason, actor=ctx.actor, source="runbook")
    if ctx.services.kv.get(HEARTBEAT_KEY) is None:  # no engine running: verify here
        checks = [
            ("database", lambda: None if ctx.services.journal.ping() >= 0 else "no answer"),
            ("control store", lambda: None if ctx.services.kv.ping() >= 0 else "no answer"),
        ]
        snap = control.complete_release(checks, actor=ctx.actor)
        return f"verified here (no engine running): trading {snap.state.value}"
    deadline = time.monotonic() + float(ctx.params.get("wait_s", 30))
    snap = control.observe()
    while snap.latch is not None and snap.latch.status == "release_requested" and time.monotonic() < deadline:
        time.sleep(0.2)
        snap = control.observe()
    return f"engine verification: trading {snap.state.value} ({snap.reason})"


def _rehalt(ctx: RunContext) -> str:
    ctx.services.trading_control.halt(
        reason="runbook rollback: resume failed verification", actor=ctx.actor, source="runbook"
    )
    return "trading halted again"


def resume() -> Runbook:
    return Runbook(
        "resume",
        "Resume trading after full verification",
        Priority.P0,
        (
            dependencies_step(),
            Step(
                "release-halt",
                "Release the emergency halt; the engine verifies before trading resumes",
                _release,
                verification=lambda ctx: (
                    "trading still halted: " + ctx.services.trading_control.observe().reason
                    if _halted(ctx)
                    else None
                ),
                precondition=lambda ctx: None if _halted(ctx) else Skip("trading is not halted"),
                rollback=_rehalt,
                destructive=True,
                kubectl=K_RESUME,
            ),
        ),
    )


def halt() -> Runbook:
    return Runbook("halt", "Emergency trading halt", Priority.P0, (halt_step(),))


# ------------------------------------------------------------------ exchange failover
def _failover_status(ctx: RunContext) -> str:
    status = ctx.services.failover.status()
    ctx.notes["failover_before"] = status
    return (
        f"active {status['active_venue']} (primary {status['primary_venue']}, backup {status['backup_venue']}, "
        f"failover {'on' if status['failover_active'] else 'off'})"
    )


def _activate(ctx: RunContext) -> str:
    fm = ctx.services.failover
    status = fm.activate_failover(
        fm.primary,
        fm.backup,
        reason=str(ctx.params.get("reason") or "runbook: exchange API failure"),
        actor=ctx.actor,
        source="runbook",
    )
    return f"failover activated: {fm.primary} -> {status['active_venue']}"


def _deactivate(ctx: RunContext) -> str:
    ctx.services.failover.deactivate_failover(reason="runbook rollback", actor=ctx.actor, source="runbook")
    return f"back on {ctx.services.failover.active_venue()}"


def _trade_counts(ctx: RunContext) -> dict[str, int]:
    since = datetime.now(UTC) - timedelta(minutes=5)
    with transaction(ctx.services.session_factory) as s:
        rows = s.execute(
            select(Trade.exchange, func.count()).where(Trade.timestamp > since).group_by(Trade.exchange)
        )
        return {str(ex): int(n) for ex, n in rows}


def _wait_backup_trades(ctx: RunContext) -> str:
    """With ``wait_backup_trades_s``, wait (at most that long) for a trade on the backup venue first:
    the counts shown are then the ones after trading resumed there."""
    wait = float(ctx.params.get("wait_backup_trades_s", 0))
    backup = ctx.services.failover.backup
    deadline = time.monotonic() + wait
    counts = _trade_counts(ctx)
    while counts.get(backup, 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.25)
        counts = _trade_counts(ctx)
    return f"trades last 5 min by exchange: {counts}"


def _trades_on_backup(ctx: RunContext) -> str | None:
    wait = float(ctx.params.get("wait_backup_trades_s", 0))
    if wait <= 0:
        return None
    backup = ctx.services.failover.backup
    if _trade_counts(ctx).get(backup, 0) > 0:
        return None
    return f"no trade on {backup} within {wait:.0f} s"


def exchange_failover() -> Runbook:
    return Runbook(
        "exchange-failover",
        "Exchange API failure: fail over to the backup venue",
        Priority.P1,
        (
            Step(
                "failover-status",
                "Active venue and failover state",
                _failover_status,
                kubectl=K_FAILOVER.split(";", maxsplit=1)[0],
            ),
            Step(
                "activate-failover",
                "Route market data and new orders to the backup venue",
                _activate,
                verification=lambda ctx: (
                    None
                    if ctx.services.failover.active_venue() == ctx.services.failover.backup
                    else "active venue did not change"
                ),
                precondition=lambda ctx: (
                    Skip("already on the backup venue")
                    if ctx.services.failover.active_venue() == ctx.services.failover.backup
                    else None
                ),
                rollback=_deactivate,
                destructive=True,
                kubectl=K_FAILOVER,
            ),
            Step(
                "trades-per-exchange",
                "Trading continues on the backup venue (trades in the last 5 min)",
                _wait_backup_trades,
                verification=_trades_on_backup,
                kubectl=K_TRADES,
            ),
        ),
    )


def system_outage() -> Runbook:
    return Runbook(
        "system-outage",
        "Complete system outage: halt, assess, verify recovery",
        Priority.P0,
        (
            halt_step(),
            Step(
                "assess",
                "System status: trading state, dependencies, venue",
                lambda ctx: (
                    str(ctx.params["status"]()) if "status" in ctx.params else "status probe not available"
                ),
                kubectl="kubectl get nodes; kubectl get pods --all-namespaces | grep -v Running",
            ),
            Step(
                "capture-evidence",
                "Preserve evidence before restarting anything",
                lambda ctx: (
                    str(ctx.params["capture"]()) if "capture" in ctx.params else "capture not available"
                ),
                kubectl=f"kubectl get all {NS} -o yaml > incident-$(date +%Y%m%d_%H%M%S)-k8s-state.yaml",
            ),
            dependencies_step(),
        ),
    )
