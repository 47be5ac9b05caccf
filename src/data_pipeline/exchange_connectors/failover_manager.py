"""``from data_pipeline.exchange_connectors.failover_manager import FailoverManager`` (the playbook).

``FailoverManager()`` with no arguments builds itself from the ``SMC_*`` environment, exactly as the
running system does, so the playbook's one-liner switches the venue of running processes.
"""

from __future__ import annotations

from smc_agent.bootstrap import Container
from smc_agent.control.failover import FailoverManager as _FailoverManager
from smc_agent.logs import configure_logging
from smc_agent.settings import Settings, load_settings

__all__ = ["FailoverManager"]


class FailoverManager(_FailoverManager):
    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or load_settings()
        configure_logging(level=settings.log_level, fmt=settings.log_format)
        container = Container(settings)
        super().__init__(
            kv=container.kv,
            journal=container.journal,
            primary=settings.primary_venue,
            backup=settings.backup_venue,
        )

    def activate_failover(self, from_venue: str, to_venue: str, **kwargs: str) -> dict[str, object]:
        kwargs.setdefault("actor", "playbook")
        kwargs.setdefault("source", "playbook")
        return super().activate_failover(from_venue, to_venue, **kwargs)
