from pathlib import Path

import pytest

from smc_agent.core.errors import ConfigError
from smc_agent.strategy.registry import load_strategy, strategy_class
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
