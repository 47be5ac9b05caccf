"""Runbooks: the framework (preconditions, dry-run, confirmation, rollback, lock) and the procedures
run through the CLI against the real control plane (embedded store, and Redis for FLUSHDB)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import typer
from typer.testing import CliRunner

from smc_agent.cli import incident as incident_cli
from smc_agent.cli import runbook as runbook_cli
from smc_agent.ops.incidents.priority import Priority
from smc_agent.ops.runbooks.framework import Runbook, RunbookRunner, RunContext, Skip, Step, StepResult
from smc_agent.ops.runbooks.lock import RunbookBusy, RunbookLock
from smc_agent.store.db import make_engine, make_session_factory, transaction
from smc_agent.store.models import User, UserSession
from tests.api.server import free_port


def _runner(confirm: bool = True) -> tuple[RunbookRunner, list[StepResult]]:
    recorded: list[StepResult] = []
    return RunbookRunner(
        confirm=lambda step: confirm, record=recorded.append, echo=lambda line: None
    ), recorded


def _book(log: list[str], *, fail_at: str | None = None, destructive: str | None = None) -> Runbook:
    def step(name: str, pre: Any = None) -> Step:
        return Step(
            name,
            f"do {name}",
            lambda ctx: log.append(name) or f"{name} ok",
            verification=lambda ctx: "broken" if name == fail_at else None,
            precondition=pre,
            rollback=lambda ctx: log.append(f"undo {name}") or "undone",
            destructive=name == destructive,
            kubectl=f"kubectl {name}",
        )

    return Runbook(
        "test",
        "Test",
        Priority.P2,
        (step("a"), step("b", pre=lambda ctx: Skip("already fine")), step("c"), step("d")),
    )


def test_steps_run_in_order_skip_and_record() -> None:
    log: list[str] = []
    runner, recorded = _runner()
    result = runner.run(_book(log), RunContext(actor="t", services=None))
    assert result.status == "completed" and log == ["a", "c", "d"]
    assert [(r.step, r.status) for r in recorded] == [
        ("a", "done"),
        ("b", "skipped"),
        ("c", "done"),
        ("d", "done"),
    ]
    assert recorded[0].kubectl == "kubectl a"


def test_failed_verification_rolls_back_in_reverse() -> None:
    log: list[str] = []
    runner, recorded = _runner()
    result = runner.run(_book(log, fail_at="c"), RunContext(actor="t", services=None))
    assert result.status == "failed"
    assert log == ["a", "c", "undo c", "undo a"]
    assert [r.status for r in recorded] == ["done", "skipped", "failed", "rolled-back", "rolled-back"]


def test_dry_run_and_refused_confirmation_change_nothing() -> None:
    log: list[str] = []
    runner, recorded = _runner()
    result = runner.run(_book(log, destructive="c"), RunContext(actor="t", services=None), dry_run=True)
    assert result.status == "dry-run" and log == [] and recorded == []
    assert [r.status for r in result.results] == ["would-run", "skipped", "would-run", "would-run"]
    assert "destructive" in result.results[2].output
    refusing, recorded = _runner(confirm=False)
    result = refusing.run(_book(log, destructive="c"), RunContext(actor="t", services=None))
    assert result.status == "aborted" and log == ["a"]
    assert recorded[-1].status == "aborted"


def test_blocked_precondition_stops_the_run() -> None:
    runner, _ = _runner()
    book = Runbook(
        "x", "X", Priority.P3, (Step("s", "s", lambda ctx: "ran", precondition=lambda ctx: "no way"),)
    )
    result = runner.run(book, RunContext(actor="t", services=None))
    assert result.status == "blocked" and "no way" in result.results[0].output


def test_lock_excludes_a_second_run_until_released_or_expired(factory) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 29, tzinfo=UTC)
    first = RunbookLock(factory, owner="alice", runbook="halt")
    first.acquire(now)
    with pytest.raises(RunbookBusy, match="alice"):
        RunbookLock(factory, owner="bob", runbook="resume").acquire(now)
    first.release()
    second = RunbookLock(factory, owner="bob", runbook="resume")
    second.acquire(now)
    RunbookLock(factory, owner="carol", runbook="halt").acquire(
        now + timedelta(hours=1)
    )  # bob's lease expired


@pytest.fixture
def cli(migrated_sqlite_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = typer.Typer()
    root.add_typer(runbook_cli.app, name="runbook")
    root.add_typer(incident_cli.app, name="incident")
    env = {"SMC_DATABASE_URL": migrated_sqlite_url, "SMC_DATA_DIR": str(tmp_path), "SMC_ACTOR": "oncall"}
    runner = CliRunner()

    def run(*args: str, code: int = 0, extra: dict[str, str] | None = None) -> str:
        result = runner.invoke(root, list(args), env=env | (extra or {}), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    run.env = env  # type: ignore[attr-defined]
    return run


def _incident(cli, out: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    inc = next(line.split()[1] for line in out.splitlines() if line.startswith("incident INC-"))
    return json.loads(cli("incident", "show", inc, "--json"))


def test_exchange_failover_runbook(cli) -> None:  # type: ignore[no-untyped-def]
    dry = cli("runbook", "run", "exchange-failover", "--dry-run")
    assert "[would-run] activate-failover" in dry and "FailoverManager().activate_failover" in dry
    out = cli("runbook", "run", "exchange-failover", "--yes", "--reason", "binance down")
    assert "failover activated: binance -> bybit" in out and "exchange-failover: completed" in out
    shown = _incident(cli, out)
    steps = [
        (e["payload"]["step"], e["payload"]["status"]) for e in shown["events"] if e["kind"] == "runbook"
    ]
    assert steps == [
        ("failover-status", "done"),
        ("activate-failover", "done"),
        ("trades-per-exchange", "done"),
    ]
    again = cli("runbook", "run", "exchange-failover", "--yes")
    assert "[skipped] activate-failover: already on the backup venue" in again


def test_halt_then_resume_runbooks(cli) -> None:  # type: ignore[no-untyped-def]
    assert "trading halted" in cli("runbook", "run", "halt", "--reason", "game day")
    refused = cli("runbook", "run", "resume", code=1, extra={})  # no --yes and no stdin: not confirmed
    assert "[aborted] release-halt" in refused and "resume: aborted" in refused
    out = cli("runbook", "run", "resume", "--yes")
    assert "[done] release-halt" in out and "resume: completed" in out


def test_runbooks_do_not_overlap(cli, migrated_sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(migrated_sqlite_url)
    lock = RunbookLock(make_session_factory(engine), owner="someone-else", runbook="data-loss")
    lock.acquire(datetime.now(UTC))
    try:
        assert "another runbook run is in progress" in cli("runbook", "run", "halt", code=3)
    finally:
        lock.release()
        engine.dispose()


def test_disable_accounts_runbook(cli, migrated_sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(migrated_sqlite_url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        s.add_all(
            [
                User(id="usr_bad", username="mallory", password_hash="x"),
                User(id="usr_good", username="alice", password_hash="x"),
            ]
        )
        s.flush()
        s.add(UserSession(user_id="usr_bad", username="mallory"))
    assert "unknown account(s): ghost" in cli("runbook", "run", "disable-accounts", "--user", "ghost", code=1)
    cli("runbook", "run", "disable-accounts", "--user", "mallory")
    with transaction(factory) as s:
        assert not s.get(User, "usr_bad").is_active and s.get(User, "usr_good").is_active  # type: ignore[union-attr]
        assert all(r.revoked_at is not None for r in s.query(UserSession).all())
    engine.dispose()


@pytest.mark.redis
def test_revoke_sessions_flushes_only_the_session_db(cli, redis_pair: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    control_url, session_url = redis_pair
    session_db = int(session_url.rsplit("/", 1)[1])
    extra = {"SMC_REDIS_URL": control_url, "SMC_SESSION_REDIS_DB": str(session_db)}
    sessions = redis.Redis.from_url(session_url)
    control = redis.Redis.from_url(control_url)
    try:
        for i in range(5):
            sessions.set(f"session:{i}", "token")
        cli("runbook", "run", "halt", extra=extra)
        cli("runbook", "run", "exchange-failover", "--yes", extra=extra)
        out = cli("runbook", "run", "revoke-sessions", "--yes", extra=extra)
        assert "5 session key(s) removed" in out and "revoke-sessions: completed" in out
        assert sessions.dbsize() == 0
        assert control.get("emergency_halt") == b"true" and control.get("smc:failover") is not None
        same = {"SMC_REDIS_URL": control_url, "SMC_SESSION_REDIS_DB": control_url.rsplit("/", 1)[1]}
        # refused before anything runs: FLUSHDB there would erase the halt (settings refuse the pair)
        assert "must differ" in cli("runbook", "run", "revoke-sessions", "--yes", code=2, extra=same)
        assert control.get("emergency_halt") == b"true"
    finally:
        sessions.close()
        control.close()


@pytest.mark.postgres
def test_db_performance_and_data_loss_on_postgresql(migrated_pg_url: str, tmp_path: Path) -> None:
    root = typer.Typer()
    root.add_typer(runbook_cli.app, name="runbook")
    env = {"SMC_DATABASE_URL": migrated_pg_url, "SMC_DATA_DIR": str(tmp_path), "SMC_ACTOR": "dba"}
    runner = CliRunner()
    out = runner.invoke(
        root, ["runbook", "run", "db-performance", "--yes"], env=env, catch_exceptions=False
    ).output
    assert "active_connections=" in out and "db-performance: completed" in out
    assert "[skipped] terminate-long-queries" in out
    first = runner.invoke(root, ["runbook", "run", "data-loss", "--yes"], env=env, catch_exceptions=False)
    assert "relname=orders" in first.output and "[done] emergency-backup" in first.output
    assert "[skipped] verify-latest-backup: NO BACKUP FOUND" in first.output
    second = runner.invoke(root, ["runbook", "run", "data-loss", "--yes"], env=env, catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert "[done] verify-latest-backup" in second.output and "row counts and checksums=ok" in second.output


def test_api_latency_and_websocket_runbooks(cli) -> None:  # type: ignore[no-untyped-def]
    from .receivers import HttpReceiver

    api = HttpReceiver().start()
    try:
        url = f"--param=api_url={api.url}"
        out = cli("runbook", "run", "high-api-latency", url, "--param", "samples=5")
        assert "GET /health x5: p50" in out and "[skipped] scale-api" in out
        assert "kubectl scale deployment api-gateway --replicas=5 -n smc-trading" in out
        assert "high-api-latency: completed" in out
        assert "verification failed: p95" in cli(
            "runbook", "run", "high-api-latency", url, "--param", "p95_ms=0", code=1
        )
        api.script.append((401, {}))
        out = cli("runbook", "run", "websocket-issues", url)
        assert "handshake rejected with HTTP 401 (authentication required: endpoint alive)" in out
        assert "websocket-issues: completed" in out
    finally:
        api.stop()
    down = cli("runbook", "run", "websocket-issues", f"--param=api_url={api.url}", code=1)
    assert "unreachable" in down and "the /ws endpoint does not answer" in down
    assert "--param expects KEY=VALUE" in cli("runbook", "run", "halt", "--param", "oops", code=2)


def test_security_breach_runbook_rotates_keys_and_revokes_sessions(  # type: ignore[no-untyped-def]
    cli, migrated_sqlite_url: str, tmp_path: Path
) -> None:
    from smc_agent.api import keys as key_service
    from smc_agent.store.models import ApiKey

    engine = make_engine(migrated_sqlite_url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        s.add(User(id="usr_1", username="trader", password_hash="x"))
        s.flush()
        old = key_service.create_key(s, user_id="usr_1", scopes=["read"])
        s.add(UserSession(user_id="usr_1", username="trader", ip_address="203.0.113.9"))
    public, admin = free_port(), free_port()  # no API process runs here: nothing listens on either
    out = cli(
        "runbook",
        "run",
        "security-breach",
        "--yes",
        "--param",
        f"api_url=http://127.0.0.1:{public}",
        "--param",
        f"admin_url=http://127.0.0.1:{admin}",
    )
    assert "security-breach: completed" in out, out
    assert "[done] block-public-traffic" in out and "kubectl patch ingress api-ingress" in out
    assert f"admin listener http://127.0.0.1:{admin} unreachable" in out  # reported, containment not undone
    assert (
        "[done] capture-evidence" in out
        and "[done] forensic-analysis: 1 login(s) from ['203.0.113.9']" in out
    )
    assert "[done] rotate-api-keys: rotated 1 key(s)" in out and "[done] revoke-all-sessions" in out
    secrets_file = next((tmp_path / "secrets").iterdir())
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    new_secret = json.loads(secrets_file.read_text())[0]["key"]
    assert old.secret not in out and new_secret not in out
    with transaction(factory) as s:
        keys = {k.prefix: k for k in s.query(ApiKey).all()}
        now = datetime.now(UTC)
        assert not key_service.key_usable(keys[old.key.prefix], now)  # the old key fails
        new = keys[key_service.split_prefix(new_secret)]
        assert key_service.key_usable(new, now) and key_service.verify_key(new.key_hash, new_secret)
        assert all(r.revoked_at is not None for r in s.query(UserSession).all())
    engine.dispose()
    shown = _incident(cli, out)
    assert shown["category"] == "security"
    assert "rotate-api-keys" in [e["payload"].get("step") for e in shown["events"]]
