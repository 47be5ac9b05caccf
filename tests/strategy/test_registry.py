from pathlib import Path

import pytest

from smc_agent.core.errors import ConfigError
from smc_agent.strategy.registry import build_strategy, load_strategy, strategy_class
from smc_agent.strategy.sma_cross import SmaCross


def test_only_the_users_own_commands_load_user_code(tmp_path: Path) -> None:
    assert strategy_class("sma_cross") is SmaCross is load_strategy("sma_cross")
    assert load_strategy("smc_agent.strategy.sma_cross:SmaCross") is SmaCross
    marker = tmp_path / "ran"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    for spec in ("smc_agent.strategy.sma_cross:SmaCross", f"{tmp_path / 'evil.py'}:X"):
        with pytest.raises(ConfigError, match="unknown strategy"):
            strategy_class(spec)  # what the API uses: never imports or runs anything
    assert not marker.exists()
    with pytest.raises(ConfigError, match="has no Strategy subclass named 'X'"):
        load_strategy(f"{tmp_path / 'evil.py'}:X")
    assert marker.exists()  # load_strategy did run the file: only a user's own command may call it


def test_a_strategy_module_that_exits_at_import_fails_to_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SystemExit is not an Exception: it went through and ended the command, exit 0 and no report."""
    (tmp_path / "quits_at_import.py").write_text("raise SystemExit(0)\n")
    with pytest.raises(ConfigError, match=r"quits_at_import.py failed to load: SystemExit: 0"):
        load_strategy(f"{tmp_path / 'quits_at_import.py'}:X")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"module quits_at_import failed to load: SystemExit: 0"):
        load_strategy("quits_at_import:X")


def test_a_strategy_whose_own_init_raises_is_refused_with_its_words(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(
        "from smc_agent.strategy.base import Strategy\n\n\n"
        "class Broken(Strategy):\n"
        "    def __init__(self, **params):\n"
        "        raise RuntimeError('init fails')\n\n"
        "    def on_candle(self, candle):\n"
        "        pass\n"
    )
    with pytest.raises(ConfigError, match="strategy Broken failed to start: RuntimeError: init fails"):
        build_strategy(f"{tmp_path / 'mine.py'}:Broken", {})
    with pytest.raises(ConfigError, match="'fast': 'x' is not a valid int"):  # its own refusal, unchanged
        build_strategy("sma_cross", {"fast": "x"})
    assert isinstance(build_strategy("sma_cross", {"fast": "5"}), SmaCross)
