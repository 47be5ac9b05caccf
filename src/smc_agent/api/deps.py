"""What the API needs from the composition root, and the per-app state shared by routes.

``ApiContainer`` is a Protocol so the API does not import ``bootstrap`` (a layer above it):
:class:`smc_agent.bootstrap.Container` satisfies it, tests may pass their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.control.failover import FailoverManager
from smc_agent.control.trading import TradingControl
from smc_agent.core.control import KeyValueStore
from smc_agent.settings import Settings

if TYPE_CHECKING:
    from smc_agent.api.auth import Authenticator
    from smc_agent.api.backtests import BacktestLauncher
    from smc_agent.api.coalesce import Coalescer
    from smc_agent.api.metrics import ApiMetrics
    from smc_agent.api.ratelimit import Limiter, RateLimiter
    from smc_agent.api.sessions import SessionStore
    from smc_agent.api.ws import WebSocketHub


class ApiContainer(Protocol):
    settings: Settings

    @property
    def engine(self) -> Engine: ...

    @property
    def session_factory(self) -> sessionmaker[Session]: ...

    @property
    def kv(self) -> KeyValueStore: ...

    @property
    def trading_control(self) -> TradingControl: ...

    @property
    def failover(self) -> FailoverManager: ...


@dataclass
class ApiState:
    """Everything a request handler reaches through ``request.app.state.api``."""

    container: ApiContainer
    sessions: SessionStore
    authenticator: Authenticator
    limiter: Limiter
    ip_limiter: RateLimiter
    login_limiter: Limiter
    metrics: ApiMetrics
    hub: WebSocketHub | None
    backtests: BacktestLauncher
    status: Coalescer[dict[str, Any]]
    components: dict[str, dict[str, Any]] = field(default_factory=dict)


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    factory = api_state(request).container.session_factory
    with factory() as session, session.begin():
        yield session
