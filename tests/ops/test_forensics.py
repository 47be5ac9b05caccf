"""Forensics: the playbook's queries and thresholds, access-log errors, evidence bundles."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from smc_agent.cli import forensics as forensics_cli
from smc_agent.cli import incident as incident_cli
from smc_agent.ops.forensics import access_log, queries
from smc_agent.ops.forensics.capture import proc_net_tcp, redact_cmdline, redact_url
from smc_agent.store.db import make_engine, make_session_factory, transaction
from smc_agent.store.models import Trade, User, UserSession

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WINDOW = queries.Window(now=NOW, since=timedelta(hours=2))


def _seed(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        user = User(username="mallory", password_hash="x")
        s.add(user)
        s.flush()
        for minutes, ip in ((10, "10.0.0.9"), (119, "10.0.0.8"), (121, "10.0.0.7")):
            s.add(
                UserSession(
                    user_id=user.id,
                    username="mallory",
                    login_time=NOW - timedelta(minutes=minutes),
                    ip_address=ip,
                    user_agent="curl/8",
                )
            )
        trades = [  # (quantity, price, market_price, minutes ago, unusual?)
            ("10000", "100", "100", 5),  # at the quantity limit: normal
            ("10000.01", "100", "100", 6),  # above: unusual
            ("1", "110", "100", 7),  # exactly 10 % off: normal
            ("1", "110.01", "100", 8),  # more than 10 %: unusual
            ("1", "89.99", "100", 9),  # more than 10 % below: unusual
            ("1", "5", "0", 10),  # no market price: not a division by zero
            ("99999", "100", "100", 180),  # outside the window
        ]
        for i, (q, p, m, ago) in enumerate(trades):
            s.add(
                Trade(
                    user_id=user.id,
                    exchange="binance",
                    venue_trade_id=f"v{i}",
                    symbol="BTC/USDT",
                    side="buy",
                    quantity=Decimal(q),
                    price=Decimal(p),
                    market_price=Decimal(m),
                    timestamp=NOW - timedelta(minutes=ago),
                )
            )


def _check(factory: sessionmaker[Session]) -> None:
    _seed(factory)
    with transaction(factory) as s:
        logins = queries.logins(s, WINDOW)
        unusual = queries.unusual_trades(s, WINDOW)
    assert [r["ip_address"] for r in logins] == ["10.0.0.9", "10.0.0.8"]
    assert [(r["quantity"], r["price"]) for r in unusual] == [
        ("10000.01", "100"),
        ("1", "110.01"),
        ("1", "89.99"),
    ]


def test_queries_on_sqlite(factory: sessionmaker[Session]) -> None:
    _check(factory)


@pytest.mark.postgres
def test_queries_on_postgresql_use_the_playbook_sql(pg_factory: sessionmaker[Session]) -> None:
    _check(pg_factory)


def test_since_parsing() -> None:
    assert queries.parse_since("2h") == timedelta(hours=2)
    assert queries.parse_since("30m") == timedelta(minutes=30)
    with pytest.raises(ValueError, match="2h, 30m"):
        queries.parse_since("two hours")


def test_api_errors_from_the_access_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = []
    for i, status in enumerate([200, 401, 403, 429, 500, 401, 401]):
        lines.append(
            json.dumps(
                {
                    "timestamp": (NOW - timedelta(minutes=60 - i)).isoformat(),
                    "method": "GET",
                    "path": "/v1/orders",
                    "status": status,
                    "latency_ms": 3.2,
                    "user": None if status == 401 else "bob",
                    "client_ip": f"203.0.113.{i % 2}",
                }
            )
        )
    lines.append(
        json.dumps({"timestamp": (NOW - timedelta(hours=3)).isoformat(), "status": 401, "client_ip": "x"})
    )
    lines.append("not json")
    lines.append(
        json.dumps({"timestamp": NOW.isoformat(), "logger": "smc_agent.live", "event": "tick", "status": 401})
    )
    lines.append(
        json.dumps(
            {
                "timestamp": NOW.isoformat(),
                "logger": "smc_agent.api.access",
                "status": 403,
                "user_id": "usr_9",
                "client_ip": "198.51.100.1",
                "event": "GET /v1/x 403",
            }
        )
    )
    lines.append(json.dumps({"status": 403}))
    log.write_text("\n".join(lines) + "\n")
    report = access_log.api_errors([log], WINDOW, limit=4)
    assert dict(report.by_status) == {401: 3, 403: 2, 429: 1}
    assert [e["status"] for e in report.entries] == [429, 401, 401, 403]
    assert report.by_user["usr_9"] == 1
    assert report.unreadable_lines == 1 and report.undated_lines == 1
    with pytest.raises(FileNotFoundError, match="SMC_API_ACCESS_LOG"):
        access_log.api_errors([tmp_path / "missing.log"], WINDOW)


def test_redact_url_and_proc_net_tcp(tmp_path: Path) -> None:
    assert redact_cmdline("app --password=hunter2 --db postgresql://u:pw@h/db token:abc") == (
        "app --password=*** --db postgresql://u:***@h/db token:***"
    )
    assert redact_url("postgresql+psycopg://u:pw@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"
    assert redact_url("sqlite:////x.db") == "sqlite:////x.db"
    (tmp_path / "tcp").write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1\n"
    )
    assert proc_net_tcp(tmp_path) == [
        {
            "proto": "tcp",
            "local": "127.0.0.1:8080",
            "remote": "0.0.0.0:0",
            "state": "LISTEN",
            "uid": 0,
            "inode": 12345,
        }
    ]


@pytest.mark.postgres
def test_capture_bundle_has_checksums_and_no_secrets(migrated_pg_url: str, tmp_path: Path) -> None:
    url = migrated_pg_url.replace("postgres@", "postgres:db-pass-0123456789@")
    access = tmp_path / "access.log"
    access.write_text(
        json.dumps({"timestamp": NOW.isoformat(), "status": 401, "client_ip": "1.2.3.4"}) + "\n"
    )
    env = {
        "SMC_DATABASE_URL": url,
        "SMC_DATA_DIR": str(tmp_path),
        "SMC_SECRET_KEY": "sk-very-secret-0123456789",
        "SMC_SLACK_CRITICAL_WEBHOOK": "https://hooks.example/T000/B000/webhook-secret",
        "SMC_API_ACCESS_LOG": str(access),
        "SMC_ACTOR": "ir",
    }
    root = typer.Typer()
    root.add_typer(incident_cli.app, name="incident")
    root.add_typer(forensics_cli.app, name="forensics")
    runner = CliRunner()
    opened = runner.invoke(
        root,
        [
            "incident",
            "open",
            "-p",
            "P0",
            "--title",
            "Breach",
            "--impact",
            "unknown",
            "--category",
            "security",
            "--no-send",
        ],
        env=env,
        catch_exceptions=False,
    )
    inc = opened.output.splitlines()[0]
    result = runner.invoke(
        root, ["incident", "capture", inc, "--out", str(tmp_path / "ev")], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    bundle = next((tmp_path / "ev").iterdir())
    assert bundle.name.startswith("incident-") and bundle.name.endswith(inc)
    names = {p.name for p in bundle.rglob("*") if p.is_file()}
    assert {
        "config.json",
        "state.json",
        "connections.json",
        "database.json",
        "SHA256SUMS",
        "open_incidents.json",
        "00-access.log",
    } <= names
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], check=False, cwd=bundle, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    everything = "".join(p.read_text(errors="replace") for p in bundle.rglob("*") if p.is_file())
    for secret in ("db-pass-0123456789", "sk-very-secret-0123456789", "webhook-secret"):
        assert secret not in everything
    connections = json.loads((bundle / "connections.json").read_text())
    assert any(c["remote"] and c["remote"].endswith(":5432") for c in connections["connections"])
    shown = json.loads(runner.invoke(root, ["incident", "show", inc, "--json"], env=env).output)
    assert shown["events"][-1]["kind"] == "evidence"


def test_cli_unusual_trades_and_logins(migrated_sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(migrated_sqlite_url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        user = User(username="eve", password_hash="x")
        s.add(user)
        s.flush()
        s.add(UserSession(user_id=user.id, username="eve", ip_address="198.51.100.7", user_agent="ua"))
        s.add(
            Trade(
                user_id=user.id,
                exchange="bybit",
                venue_trade_id="t1",
                symbol="ETH/USDT",
                side="sell",
                quantity=Decimal("20000"),
                price=Decimal("2000"),
                market_price=Decimal("2000"),
                timestamp=datetime.now(UTC) - timedelta(minutes=5),
            )
        )
    engine.dispose()
    root = typer.Typer()
    root.add_typer(forensics_cli.app, name="forensics")
    env = {"SMC_DATABASE_URL": migrated_sqlite_url, "SMC_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    trades = json.loads(
        runner.invoke(root, ["forensics", "unusual-trades", "--since", "2h", "--json"], env=env).output
    )
    assert [(t["symbol"], t["quantity"]) for t in trades] == [("ETH/USDT", "20000")]
    logins = json.loads(
        runner.invoke(root, ["forensics", "logins", "--since", "2h", "--json"], env=env).output
    )
    assert [r["ip_address"] for r in logins] == ["198.51.100.7"]
    bad = runner.invoke(root, ["forensics", "logins", "--since", "soon"], env=env)
    assert bad.exit_code == 2 and "2h, 30m" in bad.output
