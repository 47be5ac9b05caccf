"""Strategies by name.

:func:`strategy_class` knows only the shipped strategies: it is what anything reachable from the network
(the API's backtests) uses. :func:`load_strategy` also loads a user's own class, for the user's own
commands (the CLI's ``--strategy``, and the sweep workers it starts, which receive the same string):
``package.module:Class`` imports a module on the path, ``path/to/file.py:Class`` loads that file. Either
runs the user's code, which is why nothing that serves requests may call it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smc_agent.core.errors import ConfigError
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.params import check_json_params
from smc_agent.strategy.sma_cross import SmaCross
from smc_agent.strategy.smc_structure import SmcStructure

STRATEGIES: dict[str, type[Strategy]] = {"smc": SmcStructure, "sma_cross": SmaCross}


def strategy_class(name: str) -> type[Strategy]:
    """A shipped strategy by name (never user code)."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; available: {sorted(STRATEGIES)}") from None


def shipped_strategy(name: str, parameters: Mapping[str, Any]) -> Strategy:
    """A shipped strategy built from parameters decoded from JSON (the API's backtests): their types
    checked strictly, then the strategy's own checks; raises ConfigError, ValueError or TypeError."""
    cls = strategy_class(name)
    check_json_params(cls, parameters)
    return cls(**{k: str(v) for k, v in parameters.items()})


def load_strategy(spec: str) -> type[Strategy]:
    """A shipped strategy, or the user's own ``package.module:Class`` / ``path/to/file.py:Class``."""
    if spec in STRATEGIES:
        return STRATEGIES[spec]
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ConfigError(
            f"unknown strategy {spec!r}; available: {sorted(STRATEGIES)}, or your own as "
            "package.module:Class or path/to/file.py:Class"
        )
    module = _load_file(Path(target)) if target.endswith(".py") else _import(target)
    found = getattr(module, attr, None)
    if not (isinstance(found, type) and issubclass(found, Strategy)) or found is Strategy:
        raise ConfigError(f"{target} has no Strategy subclass named {attr!r}")
    return found


def build_strategy(spec: str, params: Mapping[str, Any]) -> Strategy:
    """:func:`load_strategy` ``(spec)(**params)``; whatever a user's own ``__init__`` raises refuses the
    strategy with its words, like a failing ``check_params`` (no candle has been read yet)."""
    cls = load_strategy(spec)
    try:
        return cls(**params)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"strategy {cls.__name__} failed to start: {type(exc).__name__}: {exc}") from None


def _import(module: str) -> object:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import strategy module {module!r}: {exc} (a file of yours: --strategy path/to/file.py:Class)"
        ) from None
    except (Exception, SystemExit) as exc:  # its own code raised: SystemExit would end the command silently
        raise ConfigError(f"strategy module {module} failed to load: {type(exc).__name__}: {exc}") from None


def _load_file(path: Path) -> object:
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"strategy file {path} not found")
    key = "smc_user_strategy_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if key in sys.modules:  # one module per file and process: its classes stay the same objects
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load strategy file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # SystemExit would end the command silently, with no report
        del sys.modules[key]
        raise ConfigError(f"strategy file {path} failed to load: {type(exc).__name__}: {exc}") from None
    return module
