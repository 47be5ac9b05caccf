from __future__ import annotations

from pathlib import Path

import pytest

from smc_agent.core.errors import ConfigError
from smc_agent.settings import Settings, TradingMode, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("SMC_"):
            monkeypatch.delenv(key)


def test_defaults_are_embedded_and_paper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMC_DATA_DIR", str(tmp_path))
    s = load_settings()
    assert s.mode is TradingMode.PAPER
    assert s.redis_url is None
    assert s.session_redis_db == 1
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'smc_trading.db'}"


def test_environment_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "smc.toml"
    cfg.write_text('redis_url = "redis://redis:6379/0"\nlog_level = "DEBUG"\napi_port = 9000\n')
    monkeypatch.setenv("SMC_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("SMC_API_PORT", "9100")  # the environment wins over the file
    s = load_settings()
    assert s.redis_url == "redis://redis:6379/0"
    assert s.log_level == "DEBUG"
    assert s.api_port == 9100


def test_ops_table_of_the_toml_file_configures_the_ops_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smc_agent.ops.settings import load_ops_settings

    cfg = tmp_path / "smc.toml"
    cfg.write_text(
        'api_port = 9000\n[ops]\nstatuspage_page_id = "page-1"\nbackup_keep = 30\n'
        'slack_critical_webhook = "http://127.0.0.1:9/hook"\n'
    )
    monkeypatch.setenv("SMC_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("SMC_BACKUP_KEEP", "7")  # the environment wins over the file here too
    assert load_settings().api_port == 9000  # the core settings ignore the [ops] table
    ops = load_ops_settings()
    assert ops.statuspage_page_id == "page-1" and ops.backup_keep == 7
    assert ops.slack_critical_webhook is not None
    assert ops.slack_critical_webhook.get_secret_value() == "http://127.0.0.1:9/hook"
    # a typo in [ops] is an error, as at the top level (a misspelt webhook sent alerts nowhere)
    cfg.write_text("[ops]\nno_such_setting = 1\n")
    with pytest.raises(ConfigError, match=r"SMC_NO_SUCH_SETTING: not a setting \(misspelt\?\)"):
        load_ops_settings()
    cfg.write_text("bogus = 1\n")
    with pytest.raises(ConfigError, match=r"SMC_BOGUS: not a setting \(misspelt\?\)"):
        load_settings()


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(Exception, match="frozen"):
        s.api_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [
        ("SMC_API_PORT", "eighty", "SMC_API_PORT"),
        ("SMC_REDIS_URL", "localhost:6379", "SMC_REDIS_URL: Value error, expected redis://host:port/db"),
        ("SMC_DATABASE_URL", "smc.db", "SMC_DATABASE_URL"),
        ("SMC_MODE", "yolo", "SMC_MODE"),
    ],
)
def test_broken_setting_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert needle in str(info.value)
    assert "Traceback" not in str(info.value)


def test_missing_or_broken_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMC_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings()
    bad = tmp_path / "bad.toml"
    bad.write_text("api_port = [")
    monkeypatch.setenv("SMC_CONFIG_FILE", str(bad))
    with pytest.raises(ConfigError, match="invalid configuration file"):
        load_settings()


def test_live_mode_refuses_default_or_weak_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMC_MODE", "live")
    with pytest.raises(ConfigError, match="live mode refuses the default or an empty secret_key"):
        load_settings()
    monkeypatch.setenv("SMC_SECRET_KEY", "s3cr3t-value-0123456789")
    monkeypatch.setenv("SMC_MASTER_KEY", "short")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "master_key" in str(info.value) and "short" not in str(info.value)
    monkeypatch.setenv("SMC_MASTER_KEY", "another-long-master-key-0123")
    assert load_settings().mode is TradingMode.LIVE


@pytest.mark.parametrize(
    ("redis_url", "session_db", "refused"),
    [
        ("redis://redis:6379/1", 1, True),  # the playbook's FLUSHDB of db 1 would delete emergency_halt
        ("redis://redis:6379", 0, True),  # no number: database 0
        ("redis://redis:6379/0?db=2", 2, True),
        ("redis://redis:6379/0", 1, False),  # the playbook's layout
        ("redis://redis:6379/1", 0, False),
    ],
)
def test_the_sessions_database_is_never_the_control_stores(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, session_db: int, refused: bool
) -> None:
    monkeypatch.setenv("SMC_REDIS_URL", redis_url)
    monkeypatch.setenv("SMC_SESSION_REDIS_DB", str(session_db))
    if refused:
        with pytest.raises(ConfigError, match=r"session_redis_db .* must differ"):
            load_settings()
    else:
        assert load_settings().session_redis_db == session_db
