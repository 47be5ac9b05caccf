"""Security containment runbooks: revoke all sessions, disable accounts, security breach."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis
from sqlalchemy import or_, select, update

from smc_agent.control.failover import FAILOVER_KEY
from smc_agent.control.trading import HALT_KEY
from smc_agent.control.traffic import PUBLIC_TRAFFIC_KEY, PublicTraffic
from smc_agent.ops.incidents.priority import Priority
from smc_agent.ops.runbooks.framework import Check, Runbook, RunContext, Skip, Step
from smc_agent.store.db import transaction
from smc_agent.store.models import AuditLog, User, UserSession
from smc_agent.store.users import drop_session_tokens
from smc_agent.store.users import revoke_sessions as end_sessions

NS = "-n smc-trading"


# ------------------------------------------------------------------ revoke all sessions
def _session_redis(ctx: RunContext) -> redis.Redis | None:
    # NB: redis.Redis.from_url(url, db=N) keeps the URL's db; the session db must be in the URL itself
    url = ctx.services.settings.session_redis_url
    return None if url is None else redis.Redis.from_url(url, socket_timeout=5)


def _control_snapshot(ctx: RunContext) -> dict[str, Any]:
    kv = ctx.services.kv
    return {
        "halt_key": kv.get(HALT_KEY),
        "failover": kv.get(FAILOVER_KEY),
        "state": ctx.services.trading_control.observe().state.value,
    }


def _revoke_all(ctx: RunContext) -> str:
    ctx.notes["control_before"] = _control_snapshot(ctx)
    flushed = "no session Redis configured (embedded session store)"
    client = _session_redis(ctx)
    if client is not None:
        try:
            keys = client.dbsize()
            client.flushdb()
            flushed = (
                f"FLUSHDB on Redis db {ctx.services.settings.session_redis_db}: {keys} session key(s) removed"
            )
        finally:
            client.close()
    now = datetime.now(UTC)
    with transaction(ctx.services.session_factory) as s:
        n = s.execute(
            update(UserSession).where(UserSession.revoked_at.is_(None)).values(revoked_at=now)
        ).rowcount  # type: ignore[attr-defined]
    return f"{flushed}; {n} session record(s) marked revoked"


def _verify_revoked(ctx: RunContext) -> str | None:
    client = _session_redis(ctx)
    if client is not None:
        try:
            left = client.dbsize()
        finally:
            client.close()
        if left:
            return f"{left} key(s) still in the session store"
    with transaction(ctx.services.session_factory) as s:
        live = s.scalars(select(UserSession.id).where(UserSession.revoked_at.is_(None))).first()
    if live is not None:
        return "a session record is still live"
    after = _control_snapshot(ctx)
    if after != ctx.notes["control_before"]:
        return f"control state changed: {ctx.notes['control_before']} -> {after}"
    return None


def revoke_sessions_step() -> Step:
    return Step(
        "revoke-all-sessions",
        "Log every user out (session store FLUSHDB); halt and failover state untouched",
        _revoke_all,
        verification=_verify_revoked,
        destructive=True,
        kubectl=f"kubectl exec -it redis-0 {NS} -- redis-cli -n 1 FLUSHDB   "
        "(the playbook's 'redis-cli FLUSHDB 1' is not valid redis-cli syntax)",
    )


def revoke_sessions() -> Runbook:
    return Runbook(
        "revoke-sessions",
        "Force logout of all users",
        Priority.P0,
        (revoke_sessions_step(),),
        category="security",
    )


# ------------------------------------------------------------------ disable accounts
def _targets(ctx: RunContext) -> list[str]:
    return [str(u) for u in ctx.params.get("users", [])]


def _find(ctx: RunContext) -> str | None:
    wanted = _targets(ctx)
    if not wanted:
        return "no account given (--user ID_OR_USERNAME, repeatable)"
    with transaction(ctx.services.session_factory) as s:
        rows = s.execute(
            select(User.id, User.username, User.is_active).where(
                or_(User.id.in_(wanted), User.username.in_(wanted))
            )
        ).all()
    known = {r.id for r in rows} | {r.username for r in rows}
    missing = [w for w in wanted if w not in known]
    if missing:
        return f"unknown account(s): {', '.join(missing)}"
    ctx.notes["was_active"] = [r.id for r in rows if r.is_active]
    ctx.notes["accounts"] = [r.id for r in rows]
    return None


def _disable(ctx: RunContext) -> str:
    ids = ctx.notes["accounts"]
    with transaction(ctx.services.session_factory) as s:
        s.execute(update(User).where(User.id.in_(ids)).values(is_active=False))
        tokens = end_sessions(s, user_ids=ids)
    problem = drop_session_tokens(ctx.services.settings.session_redis_url, tokens)
    dropped = f"tokens not deleted from the session store ({problem})" if problem else "tokens deleted"
    return f"disabled {len(ids)} account(s): {', '.join(ids)}; their sessions revoked, {dropped}"


def _verify_disabled(ctx: RunContext) -> str | None:
    with transaction(ctx.services.session_factory) as s:
        active = s.scalars(select(User.id).where(User.id.in_(ctx.notes["accounts"]), User.is_active)).all()
    return None if not active else f"still active: {', '.join(active)}"


def _reenable(ctx: RunContext) -> str:
    with transaction(ctx.services.session_factory) as s:
        s.execute(update(User).where(User.id.in_(ctx.notes["was_active"])).values(is_active=True))
    return f"re-enabled {len(ctx.notes['was_active'])} account(s)"


def disable_accounts_step(*, optional: bool = False) -> Step:
    def precondition(ctx: RunContext) -> str | None:
        if optional and not _targets(ctx):
            return Skip("no compromised account identified (pass --user to disable some)")
        return _find(ctx)

    return Step(
        "disable-accounts",
        "Disable the compromised accounts (users.is_active = false)",
        _disable,
        verification=_verify_disabled,
        precondition=precondition,
        rollback=_reenable,
        kubectl=f"kubectl exec -it postgres-primary {NS} -- psql -U postgres -d smc_trading -c "
        "\"UPDATE users SET is_active = false WHERE id IN ('suspicious-user-id-1', 'suspicious-user-id-2');\"",
    )


def disable_accounts() -> Runbook:
    return Runbook(
        "disable-accounts",
        "Disable compromised accounts",
        Priority.P0,
        (disable_accounts_step(),),
        category="security",
    )


# ------------------------------------------------------------------ security breach
def _listeners(ctx: RunContext) -> tuple[tuple[str, int], str]:
    """The public (host, port) to see refused and the admin URL that must keep answering."""
    settings = ctx.services.settings
    public = urlsplit(str(ctx.params.get("api_url") or f"http://{settings.api_host}:{settings.api_port}"))
    admin = str(
        ctx.params.get("admin_url") or f"http://{settings.api_admin_host}:{settings.api_admin_port}"
    ).rstrip("/")
    return (public.hostname or "127.0.0.1", public.port or 80), admin


def _public_refuses(public: tuple[str, int]) -> bool:
    """True only for a refused connection: a timeout or an unreachable host proves nothing (the runbook
    may run where the gateway is not reachable; pass ``--param api_url=...`` then)."""
    try:
        with socket.create_connection(public, timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def _admin_health(admin: str) -> str | None:
    try:
        response = httpx.get(f"{admin}/health", timeout=2.0)
    except httpx.HTTPError as exc:
        return f"admin listener {admin} unreachable: {exc.__class__.__name__}"
    return None if response.status_code == 200 else f"admin {admin}/health answered {response.status_code}"


def _audit(ctx: RunContext, action: str, details: dict[str, Any]) -> None:
    with transaction(ctx.services.session_factory) as s:
        s.add(AuditLog(actor=ctx.actor, action=action, target=PUBLIC_TRAFFIC_KEY, details=details))


def _wait_public(ctx: RunContext, *, refused: bool) -> float | None:
    """Seconds until the public listener refuses (or accepts) connections; None on timeout. The API
    processes poll the switch twice a second."""
    public, _admin = _listeners(ctx)
    start = time.monotonic()
    while _public_refuses(public) is not refused:
        if time.monotonic() - start > float(ctx.params.get("listener_timeout_s", 10)):
            return None
        time.sleep(0.05)
    return time.monotonic() - start


def _block(ctx: RunContext) -> str:
    reason = str(ctx.params.get("reason") or "security incident: isolate public traffic")
    now_ms = int(time.time() * 1000)
    block = PublicTraffic(ctx.services.kv).block(
        reason=reason, actor=ctx.actor, source="runbook", now_ms=now_ms
    )
    _audit(ctx, "public_traffic.block", {"reason": block.reason})
    public, admin = _listeners(ctx)
    waited = _wait_public(ctx, refused=True)
    closed = "still open" if waited is None else f"refusing connections after {waited:.2f} s"
    # The admin path is reported, not a reason to undo containment: from a workstation it may not be reachable.
    admin_state = _admin_health(admin) or f"admin listener {admin} answering /health"
    return f"{PUBLIC_TRAFFIC_KEY} set; public {public[0]}:{public[1]} {closed}; {admin_state}"


def _verify_blocked(ctx: RunContext) -> str | None:
    public, _admin = _listeners(ctx)
    return (
        None
        if _public_refuses(public)
        else f"public listener {public[0]}:{public[1]} still accepts connections"
    )


def _unblock(ctx: RunContext) -> str:
    lifted = PublicTraffic(ctx.services.kv).unblock()
    _audit(ctx, "public_traffic.unblock", {"lifted": lifted})
    return (
        f"{PUBLIC_TRAFFIC_KEY} deleted: public listeners reopen"
        if lifted
        else "public traffic was not blocked"
    )


def _verify_unblocked(ctx: RunContext) -> str | None:
    if _wait_public(ctx, refused=False) is None:
        public, _admin = _listeners(ctx)
        return f"public listener {public[0]}:{public[1]} did not reopen (is the api-gateway running?)"
    return None


def _already(blocked: bool) -> Check:
    def precondition(ctx: RunContext) -> str | None:
        current = PublicTraffic(ctx.services.kv).current()
        if blocked and current is not None:
            return Skip(f"public traffic already blocked by {current.actor}: {current.reason}")
        if not blocked and current is None:
            return Skip("public traffic is not blocked")
        return None

    return precondition


def block_public_traffic_step() -> Step:
    return Step(
        "block-public-traffic",
        "Block public traffic: public API/WebSocket/dashboard listeners close, the admin listener stays open",
        _block,
        verification=_verify_blocked,
        precondition=_already(True),
        destructive=True,
        kubectl=f'kubectl patch ingress api-ingress {NS} -p \'{{"spec":{{"rules":[]}}}}\'   '
        f"(and: kubectl scale deployment api-gateway --replicas=0 {NS}; "
        f"kubectl scale deployment web-app --replicas=0 {NS})",
    )


def block_public_traffic() -> Runbook:
    return Runbook(
        "block-public-traffic",
        "Block all public traffic (admin path stays open)",
        Priority.P0,
        (block_public_traffic_step(),),
        category="security",
    )


def unblock_public_traffic() -> Runbook:
    return Runbook(
        "unblock-public-traffic",
        "Restore public traffic after containment",
        Priority.P0,
        (
            Step(
                "unblock-public-traffic",
                "Reopen the public listeners",
                _unblock,
                verification=_verify_unblocked,
                precondition=_already(False),
                destructive=True,
                kubectl=f"kubectl apply -f deploy/k8s/edge.yaml   (restores api-ingress rules) and scale "
                f"api-gateway / web-app back up {NS}",
            ),
        ),
        category="security",
    )


def rotate_keys_step() -> Step:
    def precondition(ctx: RunContext) -> str | None:
        return None if "rotate_keys" in ctx.params else Skip("key rotation not available to this run")

    return Step(
        "rotate-api-keys",
        "Rotate every API key: old keys rejected from now on; this run issues replacements (a 0600 file "
        "for their owners), the cluster's job (kubectl) revokes only and owners create new ones",
        lambda ctx: str(ctx.params["rotate_keys"]()),
        verification=lambda ctx: ctx.params["verify_rotation"](),
        precondition=precondition,
        destructive=True,
        kubectl=f"kubectl create job api-key-rotation --from=cronjob/api-key-rotation {NS}",
    )


def rotate_api_keys() -> Runbook:
    return Runbook(
        "rotate-api-keys", "Rotate all API keys", Priority.P0, (rotate_keys_step(),), category="security"
    )


def _forensics(ctx: RunContext) -> str:
    fn = ctx.params.get("forensics")
    return str(fn()) if fn is not None else "forensic queries not available"


def security_breach() -> Runbook:
    return Runbook(
        "security-breach",
        "Security breach: isolate, preserve evidence, contain",
        Priority.P0,
        (
            block_public_traffic_step(),
            Step(
                "capture-evidence",
                "Preserve evidence (state, config, logs, connections) before any restart",
                lambda ctx: (
                    str(ctx.params["capture"]()) if "capture" in ctx.params else "capture not available"
                ),
                kubectl=f"kubectl get all {NS} -o yaml > incident-$(date +%Y%m%d_%H%M%S)-k8s-state.yaml",
            ),
            Step(
                "forensic-analysis",
                "Logins, 401/403/429, unusual trades in the last 2 h",
                _forensics,
                kubectl=f"kubectl logs deployment/api-gateway {NS} --since=2h | grep -E '(401|403|429)' | tail -50",
            ),
            rotate_keys_step(),
            revoke_sessions_step(),
            disable_accounts_step(optional=True),
        ),
        category="security",
    )
