"""Composition root: the only module that builds concrete classes from settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.control.failover import FailoverManager
from smc_agent.control.redis_kv import RedisKeyValueStore
from smc_agent.control.trading import TradingControl
from smc_agent.core.control import KeyValueStore
from smc_agent.settings import Settings
from smc_agent.store.control_repo import DbControlJournal, DbKeyValueStore
from smc_agent.store.db import make_engine, make_session_factory


@dataclass
class Container:
    """Lazily built services for one process. Build once in ``main`` and pass down."""

    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return make_engine(
            self.settings.effective_database_url, statement_timeout_s=self.settings.db_statement_timeout_s
        )

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def kv(self) -> KeyValueStore:
        if self.settings.redis_url:
            return RedisKeyValueStore(self.settings.redis_url)
        return DbKeyValueStore(self.session_factory)

    @cached_property
    def journal(self) -> DbControlJournal:
        return DbControlJournal(self.session_factory)

    @cached_property
    def trading_control(self) -> TradingControl:
        return TradingControl(kv=self.kv, journal=self.journal)

    @cached_property
    def failover(self) -> FailoverManager:
        return FailoverManager(
            kv=self.kv,
            journal=self.journal,
            primary=self.settings.primary_venue,
            backup=self.settings.backup_venue,
        )

    def close(self) -> None:
        if "kv" in self.__dict__ and isinstance(self.kv, RedisKeyValueStore):
            self.kv.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
