"""Database runbooks: performance degradation (P1) and data loss (P0)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from smc_agent.ops.incidents.priority import Priority
from smc_agent.ops.runbooks.framework import Runbook, RunContext, Skip, Step
from smc_agent.ops.runbooks.trading import halt_step

NS = "-n smc-trading"
PSQL = f"kubectl exec -it postgres-primary {NS} -- psql -U postgres"

CONNECTIONS_SQL = "SELECT count(*) as active_connections, state FROM pg_stat_activity GROUP BY state"
SLOW_SQL = (
    "SELECT query, mean_exec_time, calls, total_exec_time FROM pg_stat_statements "
    "ORDER BY mean_exec_time DESC LIMIT 10"
)
LONG_RUNNING_WHERE = (
    "state = 'active' AND query_start < NOW() - INTERVAL '5 minutes' "
    "AND query NOT LIKE '%pg_stat_activity%' AND pid <> pg_backend_pid()"
)
TERMINATE_SQL = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {LONG_RUNNING_WHERE}"
# The playbook selects ``tablename`` from pg_stat_user_tables; that view's column is ``relname``.
DATA_SCOPE_SQL = (
    "SELECT schemaname, relname, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup, n_dead_tup "
    "FROM pg_stat_user_tables ORDER BY schemaname, relname"
)


def _pg_only(ctx: RunContext) -> str | None:
    name = ctx.services.engine.dialect.name
    return None if name == "postgresql" else Skip(f"database is {name}: PostgreSQL statistics do not apply")


def _query(ctx: RunContext, sql: str) -> list[dict[str, Any]]:
    with ctx.services.engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql)).mappings()]


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)"
    return "; ".join(", ".join(f"{k}={v}" for k, v in row.items()) for row in rows)


def _has_pg_stat_statements(ctx: RunContext) -> str | None:
    skip = _pg_only(ctx)
    if skip is not None:
        return skip
    present = _query(ctx, "SELECT 1 AS ok FROM pg_extension WHERE extname = 'pg_stat_statements'")
    return (
        None if present else Skip("pg_stat_statements is not installed (CREATE EXTENSION pg_stat_statements)")
    )


def _long_running(ctx: RunContext) -> str | None:
    skip = _pg_only(ctx)
    if skip is not None:
        return skip
    n = _query(ctx, f"SELECT count(*) AS n FROM pg_stat_activity WHERE {LONG_RUNNING_WHERE}")[0]["n"]
    return None if n else Skip("no query has been running for more than 5 minutes")


def _dispose_pool(ctx: RunContext) -> str:
    ctx.services.engine.dispose()
    return "this process's connection pool was reset (local equivalent of restarting pgbouncer)"


def db_performance() -> Runbook:
    return Runbook(
        "db-performance",
        "Database performance degradation",
        Priority.P1,
        (
            Step(
                "connections-by-state",
                "Database connections by state",
                lambda ctx: _table(_query(ctx, CONNECTIONS_SQL)),
                precondition=_pg_only,
                kubectl=f'{PSQL} -c "{CONNECTIONS_SQL};"',
            ),
            Step(
                "slow-queries",
                "Ten slowest statements (pg_stat_statements)",
                lambda ctx: _table(_query(ctx, SLOW_SQL)),
                precondition=_has_pg_stat_statements,
                kubectl=f'{PSQL} -c "{SLOW_SQL};"',
            ),
            Step(
                "terminate-long-queries",
                "Terminate queries running for more than 5 minutes",
                lambda ctx: f"terminated {len(_query(ctx, TERMINATE_SQL))} backend(s)",
                verification=lambda ctx: (
                    None if _long_running(ctx) is not None else "long-running queries remain"
                ),
                precondition=_long_running,
                destructive=True,
                kubectl=f'{PSQL} -c "{TERMINATE_SQL};"',
            ),
            Step(
                "reset-connection-pool",
                "Restart the connection pooler",
                _dispose_pool,
                kubectl=f"kubectl rollout restart deployment/pgbouncer {NS}",
            ),
        ),
    )


# ------------------------------------------------------------------ data loss
def _scope(ctx: RunContext) -> str:
    if ctx.services.engine.dialect.name == "postgresql":
        rows = _query(ctx, DATA_SCOPE_SQL)
        ctx.notes["scope"] = rows
        return _table(rows)
    from sqlalchemy import inspect

    names = inspect(ctx.services.engine).get_table_names()
    counts = {n: _query(ctx, f'SELECT count(*) AS n FROM "{n}"')[0]["n"] for n in names}
    ctx.notes["scope"] = counts
    return f"row counts: {counts}"


def _backup_call(name: str) -> Any:
    def act(ctx: RunContext) -> str:
        fn = ctx.params.get(name)
        if fn is None:
            return "backups not configured for this run"
        return str(fn())

    return act


def _any_backup(ctx: RunContext) -> str | None:
    latest = ctx.params.get("latest_backup")
    if latest is None:
        return Skip("backups not configured for this run")
    name = latest()
    return None if name else Skip("NO BACKUP FOUND: the emergency backup below is the only copy")


def data_loss() -> Runbook:
    return Runbook(
        "data-loss",
        "Data loss: stop writes, assess scope, check backups",
        Priority.P0,
        (
            halt_step(),
            Step(
                "assess-scope",
                "Per-table insert/update/delete and live/dead tuples",
                _scope,
                kubectl=f'{PSQL} -d smc_trading -c "{DATA_SCOPE_SQL};"   (playbook: tablename -> relname)',
            ),
            Step(
                "verify-latest-backup",
                "Latest backup: sha256, gzip -t, restore into a scratch database",
                _backup_call("verify_latest"),
                precondition=_any_backup,
                kubectl="aws s3 ls s3://smc-trading-backups/daily/ | tail -10; gunzip -t /tmp/$LATEST_BACKUP",
            ),
            Step(
                "emergency-backup",
                "Emergency backup of the current state",
                _backup_call("emergency_backup"),
                kubectl=f"kubectl exec postgres-primary {NS} -- pg_dump -U postgres -d smc_trading -F c "
                "-f /tmp/emergency_$(date +%Y%m%d_%H%M%S).dump",
            ),
        ),
        category="data",
    )
