"""Containment: block public traffic. A real api-gateway process on PostgreSQL and Redis; the runbook
closes its public listener (connections refused, an open keep-alive connection is dropped) while the
admin listener keeps answering; unblocking reopens it. Both are recorded in audit_log."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import typer
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from smc_agent.cli import runbook as runbook_cli
from tests.api.server import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return False
    except OSError:
        return True


def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def gateway(migrated_pg_url: str, redis_pair: tuple[str, str], tmp_path: Path) -> Iterator[dict[str, object]]:
    public, admin = free_port(), free_port()
    control_url, session_url = redis_pair
    env = {
        **os.environ,
        "SMC_DATABASE_URL": migrated_pg_url,
        "SMC_REDIS_URL": control_url,
        "SMC_SESSION_REDIS_DB": session_url.rsplit("/", 1)[1],
        "SMC_DATA_DIR": str(tmp_path),
        "SMC_API_PORT": str(public),
        "SMC_API_ADMIN_PORT": str(admin),
        "SMC_ACTOR": "secops",
        "SMC_LOG_LEVEL": "WARNING",
        "SMC_FORWARDED_ALLOW_IPS": "127.0.0.2/32",  # the "ingress": clients reach us through it
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "smc_agent.cli.main", "serve", "api-gateway"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _until(lambda: not _refused(admin) and not _refused(public), 60, "the api-gateway listeners")
        yield {"env": env, "public": public, "admin": admin, "db": migrated_pg_url, "proc": proc}
    finally:
        proc.terminate()
        proc.wait(20)


def _runbook(env: dict[str, str], *args: str) -> str:
    root = typer.Typer()
    root.add_typer(runbook_cli.app, name="runbook")
    result = CliRunner().invoke(root, ["runbook", "run", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_block_closes_public_listener_keeps_admin_and_unblock_reopens(gateway: dict[str, object]) -> None:
    env, public, admin = gateway["env"], gateway["public"], gateway["admin"]
    assert isinstance(env, dict) and isinstance(public, int) and isinstance(admin, int)
    client = httpx.Client(base_url=f"http://127.0.0.1:{public}")  # keep-alive connection, open before
    assert client.get("/health").status_code == 200

    dry = _runbook(env, "block-public-traffic", "--dry-run")
    assert "would-run" in dry and not _refused(public)

    out = _runbook(env, "block-public-traffic", "--yes", "--reason", "suspected credential leak")
    assert "[done] block-public-traffic" in out and "refusing connections" in out, out
    assert "answering /health" in out
    assert _refused(public)
    with pytest.raises(httpx.TransportError):  # the open connection was shut down too
        client.get("/health")
    admin_status = httpx.get(f"http://127.0.0.1:{admin}/v1/status").json()
    assert admin_status["trading"]["state"] == "active"  # containment leaves trading alone
    assert admin_status["public_traffic"]["blocked"] is True

    again = _runbook(env, "block-public-traffic", "--yes")
    assert "[skipped] block-public-traffic" in again and "suspected credential leak" in again

    out = _runbook(env, "unblock-public-traffic", "--yes")
    assert "[done] unblock-public-traffic" in out, out
    assert httpx.get(f"http://127.0.0.1:{public}/health").status_code == 200
    assert httpx.get(f"http://127.0.0.1:{public}/v1/status").json()["public_traffic"]["blocked"] is False

    engine = create_engine(str(gateway["db"]).replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT actor, action, details FROM audit_log ORDER BY created_at")).all()
    engine.dispose()
    assert [(r[0], r[1]) for r in rows] == [
        ("secops", "public_traffic.block"),
        ("secops", "public_traffic.unblock"),
    ]
    assert rows[0][2]["reason"] == "suspected credential leak"


def test_behind_the_ingress_the_client_is_the_one_it_names(gateway: dict[str, object]) -> None:
    # uvicorn trusted X-Forwarded-For from 127.0.0.1 only: behind an ingress every client was the
    # ingress pod (one login rate-limit bucket for all, its address in the forensic session rows)
    from smc_agent.cli.main import app

    env = gateway["env"]
    created = CliRunner().invoke(
        app,
        ["users", "create", "carol"],
        env={**env, "SMC_NEW_USER_PASSWORD": "carol-password-1"},  # type: ignore[dict-item]
    )
    assert created.exit_code == 0, created.output
    ingress = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
    with ingress:
        response = ingress.post(
            f"http://127.0.0.1:{gateway['public']}/v1/auth/login",
            json={"username": "carol", "password": "carol-password-1"},
            headers={"X-Forwarded-For": "198.51.100.8"},
        )
    assert response.status_code == 200, response.text
    with create_engine(str(gateway["db"])).connect() as conn:
        seen = (
            conn.execute(text("SELECT ip_address FROM user_sessions WHERE username = 'carol'"))
            .scalars()
            .all()
        )
    assert seen == ["198.51.100.8"]
