"""``smc-agent backup ...`` through Typer on SQLite with the embedded control store."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from smc_agent.cli import backup
from smc_agent.control.trading import TradingControl
from smc_agent.core.enums import TradingState
from smc_agent.store.control_repo import DbControlJournal, DbKeyValueStore
from smc_agent.store.db import make_engine, make_session_factory


def test_create_list_verify_restore(migrated_sqlite_url: str, tmp_path: Path) -> None:
    root = typer.Typer()
    root.add_typer(backup.app, name="backup")
    env = {"SMC_DATABASE_URL": migrated_sqlite_url, "SMC_DATA_DIR": str(tmp_path), "SMC_ACTOR": "ops"}
    runner = CliRunner()

    def run(*args: str, code: int = 0, answer: str | None = None) -> str:
        result = runner.invoke(root, ["backup", *args], env=env, input=answer, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    assert "backup smc_trading-" in run("create", "--label", "daily", "--keep", "2")
    run("create", "--keep", "2")
    run("create", "--keep", "2")
    listed = json.loads(run("list", "--json"))
    assert len(listed) == 2 and all(m["format"] == "sqlite+gzip" for m in listed)
    assert (tmp_path / "backups" / listed[0]["name"]).is_file()
    out = run("verify")
    assert "row counts and checksums" in out and "verified" in out
    assert "aborted: nothing changed" in run("restore", listed[0]["name"], code=1, answer="n\n")
    out = run("restore", listed[0]["name"], "--yes")
    assert "trading is HALTED" in out
    engine = make_engine(migrated_sqlite_url)
    factory = make_session_factory(engine)
    state = TradingControl(kv=DbKeyValueStore(factory), journal=DbControlJournal(factory)).observe()
    engine.dispose()
    assert state.state is TradingState.HALTED and "restored from backup" in state.reason
    assert "no backup 'nope.gz'" in run("verify", "nope.gz", code=1)
