"""Incident hooks of the runtime: where live detects a cause, it tells the incident opener.

``live`` sits below ``ops`` in the layer contract, so it never imports the opener: the composition
code (the CLI) passes ``IncidentOpener.open_or_attach`` in as an :class:`IncidentHook`. A failing
hook is logged and never breaks the trading path.
"""

from __future__ import annotations

from typing import Protocol

from smc_agent.logs import get_logger

log = get_logger("smc_agent.live.incidents")

BREAKER_PREFIXES = ("max_drawdown", "daily_loss")
"""Reasons of engine state changes made by the risk breakers (``Breakers`` trip reasons)."""


class IncidentHook(Protocol):
    def __call__(
        self, *, cause_key: str, priority: str | None, title: str, impact: str, source: str
    ) -> object: ...


def raise_incident(
    hook: IncidentHook | None, *, cause_key: str, priority: str | None, title: str, impact: str, source: str
) -> None:
    if hook is None:
        return
    try:
        hook(cause_key=cause_key, priority=priority, title=title, impact=impact, source=source)
    except Exception as exc:
        log.error("could not open the incident", cause_key=cause_key, error=f"{type(exc).__name__}: {exc}")


def breaker_name(reason: str) -> str | None:
    """The breaker behind an engine state change, or None when a breaker did not cause it."""
    if not reason.startswith(BREAKER_PREFIXES):
        return None
    return reason.split(":", 1)[0].split(maxsplit=1)[0]
