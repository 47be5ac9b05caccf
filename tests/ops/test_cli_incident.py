"""``smc-agent incident ...`` end to end through Typer, with a real Slack receiver on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from smc_agent.cli import incident

from .receivers import HttpReceiver

ID = re.compile(r"^INC-\d{8}-\d{6}(-\d+)?$")


@pytest.fixture
def slack() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def cli(migrated_sqlite_url: str, slack: HttpReceiver, tmp_path):  # type: ignore[no-untyped-def]
    root = typer.Typer()
    root.add_typer(incident.app, name="incident")
    env = {
        "SMC_DATABASE_URL": migrated_sqlite_url,
        "SMC_SLACK_CRITICAL_WEBHOOK": f"{slack.url}/critical",
        "SMC_ACTOR": "alice",
        "SMC_WAR_ROOM": "#war-room",
        "SMC_DATA_DIR": str(tmp_path),
    }
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(root, ["incident", *args], env=env, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_open_update_resolve_postmortem(cli, slack: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    out = cli(
        "open",
        "--priority",
        "P0",
        "--title",
        "Complete system outage",
        "--impact",
        "No trading",
        "--action",
        "Emergency trading halt activated",
    )
    lines = out.splitlines()
    inc = lines[0]
    assert ID.match(inc), out
    assert "🚨 INCIDENT ALERT - P0" in out and f"**Incident ID**: {inc}" in out
    assert "**Severity**: P0 - Critical" in out and "- Emergency trading halt activated" in out
    assert "**War Room**: #war-room" in out and "**Next Update**: In 15 min\n" in out
    assert not re.search(r"\{[A-Z_0-9]+\}", out)
    assert slack.received[0].body["text"] in out  # the alert that was printed is the one sent

    cli("update", inc, "--status", "identified", "--note", "Binance unreachable", "--eta", "20 min")
    task = cli(
        "task", "add", inc, "--title", "Fail over to Bybit", "--owner", "bob", "--due", "2030-01-01T12:00"
    ).strip()
    cli("task", "done", task)
    out = cli("resolve", inc, "--root-cause", "Venue outage", "--resolution", "Failed over", "--data-lost")
    assert "✅ INCIDENT RESOLVED - P0" in out and "**Data Lost**: Yes" in out
    assert not re.search(r"\{[A-Z_0-9]+\}", out)

    shown = json.loads(cli("show", inc, "--json"))
    assert shown["status"] == "resolved" and shown["data_lost"] is True
    assert [e["kind"] for e in shown["events"]][:4] == ["opened", "action", "notified", "acknowledged"]
    listed = json.loads(cli("list", "--json"))
    assert [i["id"] for i in listed] == [inc]

    pm = cli("postmortem", inc)
    assert f"# Post-mortem {inc}: Complete system outage" in pm
    assert "| time to acknowledge |" in pm and "| time to resolve |" in pm
    assert "Binance unreachable" in pm and "- [x] Fail over to Bybit (owner: bob, due 2030-01-01)" in pm
    assert "- [x] Send resolution notification to stakeholders" in pm
    assert "- [ ] Share learnings with broader team" in pm

    texts = [r.body["text"].splitlines()[0] for r in slack.received]
    assert texts == ["🚨 INCIDENT ALERT - P0", "📊 INCIDENT UPDATE - P0", "✅ INCIDENT RESOLVED - P0"]


def test_errors_are_named(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("open", "--priority", "P7", "--title", "x", "--impact", "y", code=1)
    assert "P0, P1, P2, P3" in out
    assert "no incident 'INC-x'" in cli("show", "INC-x", code=1)
    inc = cli(
        "open", "--priority", "P3", "--title", "UI glitch", "--impact", "cosmetic", "--no-send"
    ).splitlines()[0]
    assert "unknown status 'done'" in cli("update", inc, "--status", "done", "--note", "n", code=1)
