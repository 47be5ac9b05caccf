"""The CLI as a user runs it, on the embedded default (in-process runner; one real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(args: list[str], env: dict[str, str], *, ok: bool = True) -> Result:
    """Invoke the Typer app in-process with exactly ``env`` as the environment."""
    import io

    from typer.testing import CliRunner

    from smc_agent.cli.main import app
    from smc_agent.logs import configure_logging

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    err = io.StringIO()
    try:
        configure_logging(level="INFO", fmt="json", stream=err)
        result = CliRunner().invoke(app, args, catch_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        configure_logging(level="INFO", fmt="json")
    out = Result(result.exit_code, result.stdout, result.stderr + err.getvalue())
    if ok:
        assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
    return out


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SMC_")}
    base.update({"SMC_DATA_DIR": str(tmp_path), "SMC_LOG_FORMAT": "json", "COLUMNS": "200"})
    return base


def test_embedded_default_lifecycle(env: dict[str, str]) -> None:
    run(["db", "upgrade"], env)
    cur = json.loads(run(["db", "current", "--json"], env).stdout)
    assert cur["current"] == cur["head"] and cur["head"]

    status = json.loads(run(["status", "--json"], env).stdout)
    assert status["trading"]["state"] == "active"
    assert (
        status["dependencies"]["database"]["ok"] and status["dependencies"]["database"]["schema_up_to_date"]
    )
    assert status["dependencies"]["control_store"]["backend"] == "embedded"

    env_pw = {**env, "SMC_NEW_USER_PASSWORD": "correct horse battery"}
    created = json.loads(run(["users", "create", "alice", "--role", "admin", "--json"], env_pw).stdout)
    assert created["id"].startswith("usr_")
    dup = run(["users", "create", "alice", "--json"], env_pw, ok=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    run(["users", "disable", "alice"], env)
    users = json.loads(run(["users", "list", "--json"], env).stdout)
    assert [(u["username"], u["is_active"]) for u in users] == [("alice", False)]

    run(["halt", "--reason", "rehearsal"], env)
    status = json.loads(run(["status", "--json"], env).stdout)
    assert status["trading"]["state"] == "halted" and "rehearsal" in status["trading"]["reason"]
    resumed = run(["resume", "--reason", "rehearsal over"], env)
    assert "trading resumed" in resumed.stderr
    assert json.loads(run(["status", "--json"], env).stdout)["trading"]["state"] == "active"

    run(["db", "downgrade", "base"], env)
    assert json.loads(run(["db", "current", "--json"], env).stdout)["current"] is None


def test_broken_setting_is_one_clear_error(env: dict[str, str]) -> None:
    """A real process, as an operator runs it: exit code 2 and one line naming the setting."""
    proc = subprocess.run(
        [sys.executable, "-m", "smc_agent.cli.main", "status"],
        env={**env, "SMC_DATABASE_URL": "not-a-url"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "SMC_DATABASE_URL" in proc.stderr and "Traceback" not in proc.stderr


def test_help_everywhere(env: dict[str, str]) -> None:
    for args in (
        ["--help"],
        ["db", "--help"],
        ["users", "--help"],
        ["failover", "--help"],
        ["status", "--help"],
    ):
        assert "Usage" in run(args, env).stdout


def test_a_database_url_no_driver_can_use_is_one_line_without_its_password(env: dict[str, str]) -> None:
    for url in ("nonsense://x", "postgresql+nodriver://trader:s3cret@db/smc_trading"):
        out = run(["status"], {**env, "SMC_DATABASE_URL": url}, ok=False)
        assert out.returncode == 2, out.stdout + out.stderr
        assert "configuration error: database URL" in out.stderr and "cannot be used" in out.stderr
        assert "Traceback" not in out.stdout + out.stderr and "s3cret" not in out.stdout + out.stderr


@pytest.mark.redis
def test_status_of_a_database_without_its_schema_says_to_upgrade(
    env: dict[str, str], redis_pair: tuple[str, str]
) -> None:
    # with Redis as the control store, reading the halt latch of the empty database ended in a traceback
    for extra in ({}, {"SMC_REDIS_URL": redis_pair[0]}):
        status = json.loads(run(["status", "--json"], {**env, **extra}).stdout)
        assert status["trading"] == {
            "state": "halted",
            "reason": "the database has no schema: run `smc-agent db upgrade`",
        }


def test_a_database_that_does_not_answer_or_has_no_schema_is_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    # every command that reads the database ended in a traceback of ~490 lines
    down = "postgresql+psycopg://trader:s3cret@127.0.0.1:1/smc_trading"
    out = run(["users", "list"], {**env, "SMC_DATABASE_URL": down}, ok=False)
    text = out.stdout + out.stderr
    assert out.returncode == 1 and "Traceback" not in text and "s3cret" not in text, text
    assert "database error (postgresql+psycopg://trader:***@127.0.0.1:1/smc_trading)" in text
    assert "is it running and reachable?" in text
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    out = run(["users", "list"], {**env, "SMC_DATABASE_URL": empty}, ok=False)
    assert out.returncode == 1 and "no such table: users: run `smc-agent db upgrade`" in out.stderr, (
        out.stderr
    )


def test_a_bad_ops_table_stops_every_command_at_start(env: dict[str, str], tmp_path: Path) -> None:
    # [ops] was read only when an incident was opened: a wrong type made POST /v1/incidents answer
    # 503 mid-incident, and a misspelt webhook key was ignored (alerts went to no channel)
    config = tmp_path / "smc.toml"
    config.write_text('[ops]\nslack_critcal_webhook = "https://hooks.example/T0/B0/x"\nsmtp_port = "abc"\n')
    out = run(["status"], {**env, "SMC_CONFIG_FILE": str(config)}, ok=False)
    assert out.returncode == 2 and "Traceback" not in out.stdout + out.stderr, out.stderr
    assert "SMC_SLACK_CRITCAL_WEBHOOK: not a setting (misspelt?)" in out.stderr
    assert "SMC_SMTP_PORT: Input should be a valid integer" in out.stderr
    assert "hooks.example" not in out.stderr  # a webhook is a secret
    config.write_text('[ops]\nslack_critical_webhook = "https://hooks.example/T0/B0/x"\nsmtp_port = 2525\n')
    assert run(["status"], {**env, "SMC_CONFIG_FILE": str(config)}, ok=False).returncode == 0
