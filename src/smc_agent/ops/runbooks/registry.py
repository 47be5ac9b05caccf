"""Every runbook by name."""

from __future__ import annotations

from collections.abc import Callable

from smc_agent.ops.runbooks import api, database, security, trading
from smc_agent.ops.runbooks.framework import Runbook

RUNBOOKS: dict[str, Callable[[], Runbook]] = {
    "system-outage": trading.system_outage,
    "halt": trading.halt,
    "resume": trading.resume,
    "exchange-failover": trading.exchange_failover,
    "security-breach": security.security_breach,
    "block-public-traffic": security.block_public_traffic,
    "unblock-public-traffic": security.unblock_public_traffic,
    "revoke-sessions": security.revoke_sessions,
    "disable-accounts": security.disable_accounts,
    "rotate-api-keys": security.rotate_api_keys,
    "data-loss": database.data_loss,
    "db-performance": database.db_performance,
    "websocket-issues": api.websocket_issues,
    "high-api-latency": api.high_api_latency,
}


def get(name: str) -> Runbook:
    try:
        return RUNBOOKS[name]()
    except KeyError:
        raise KeyError(f"unknown runbook {name!r}: expected one of {', '.join(RUNBOOKS)}") from None
