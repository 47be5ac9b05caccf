"""``smc-agent keys`` (the api-key-rotation CronJob runs ``keys rotate --all``) and the serve commands."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smc_agent.cli import keys, serve_api
from tests.api.conftest import Api

runner = CliRunner()


@pytest.fixture
def cli_env(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setenv("SMC_DATABASE_URL", api.container.settings.effective_database_url)
    monkeypatch.setenv("SMC_DATA_DIR", str(api.container.settings.data_dir))
    monkeypatch.delenv("SMC_REDIS_URL", raising=False)
    return api


def test_create_list_revoke(cli_env: Api) -> None:
    api = cli_env
    created = runner.invoke(keys.app, ["create", "--user", "alice", "--scope", "read", "--json"])
    assert created.exit_code == 0, created.output
    data = json.loads(created.output)
    assert api.client.get("/v1/me", headers={"X-API-Key": data["key"]}).status_code == 200
    listed = runner.invoke(keys.app, ["list", "--json"])
    assert [k["prefix"] for k in json.loads(listed.output)] == [data["prefix"]]
    assert data["key"] not in listed.output
    assert runner.invoke(keys.app, ["revoke", data["prefix"]]).exit_code == 0
    assert api.client.get("/v1/me", headers={"X-API-Key": data["key"]}).status_code == 401
    bad = runner.invoke(keys.app, ["create", "--user", "alice", "--scope", "everything"])
    assert bad.exit_code == 1 and "unknown scope" in bad.output
    # a lifetime past the calendar was an OverflowError traceback; a negative one a key born expired
    for days in ("99999999", "-5"):
        odd = runner.invoke(keys.app, ["create", "--user", "alice", "--expires-days", days])
        assert odd.exit_code == 2 and "--expires-days" in odd.output and odd.exception is not None
        assert not isinstance(odd.exception, OverflowError)


def test_rotate_all_replaces_every_active_key(cli_env: Api, tmp_path: Path) -> None:
    api = cli_env
    old = [
        json.loads(runner.invoke(keys.app, ["create", "--user", who, "--scope", "read", "--json"]).output)[
            "key"
        ]
        for who in ("alice", "bob")
    ]
    refused = runner.invoke(keys.app, ["rotate", "--all"])
    assert refused.exit_code == 1 and "--output" in refused.output
    out = tmp_path / "secrets" / "rotated.json"
    result = runner.invoke(keys.app, ["rotate", "--all", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "rotated 2 key(s)" in result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rotated = json.loads(out.read_text())
    assert {r["user"] for r in rotated} == {"alice", "bob"}
    for key in old:
        assert key not in result.output
        assert api.client.get("/v1/me", headers={"X-API-Key": key}).status_code == 401
    for row in rotated:
        assert row["key"] not in result.output  # secrets only in the 0600 file
        assert api.client.get("/v1/me", headers={"X-API-Key": row["key"]}).status_code == 200
    revoked = runner.invoke(keys.app, ["rotate", "--all", "--revoke-only"])
    assert revoked.exit_code == 0 and "revoked 2 key(s)" in revoked.output
    assert all(api.client.get("/v1/me", headers={"X-API-Key": r["key"]}).status_code == 401 for r in rotated)


def test_serve_commands_exist() -> None:
    result = runner.invoke(serve_api.app, ["--help"])
    assert result.exit_code == 0
    for name in ("api-gateway", "websocket-service", "web-app"):
        assert name in result.output
    assert "--port" in runner.invoke(serve_api.app, ["api-gateway", "--help"]).output


def test_an_expired_key_is_not_rotated_back_to_life(cli_env: Api, tmp_path: Path) -> None:
    # the rotation replaced expired keys with fresh ones: a key dead for a year worked again
    from datetime import timedelta

    from sqlalchemy import update

    from smc_agent.store.models import ApiKey
    from smc_agent.store.types import utcnow

    api = cli_env
    created = json.loads(
        runner.invoke(keys.app, ["create", "--user", "alice", "--scope", "read", "--json"]).output
    )
    with api.container.session_factory() as session, session.begin():
        session.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(days=365)))
    out = tmp_path / "rotated.json"
    result = runner.invoke(keys.app, ["rotate", "--all", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "rotated 0 key(s)" in result.output
    one = runner.invoke(keys.app, ["rotate", created["prefix"], "--output", str(out)])
    assert one.exit_code == 1 and "has expired" in one.output
