"""SQLAlchemy 2 typed models of the ``smc_trading`` database."""

from smc_agent.store.models.base import Base
from smc_agent.store.models.ops import (
    AuditLog,
    ControlState,
    FailoverEvent,
    Incident,
    IncidentEvent,
    IncidentTask,
    NotificationOutbox,
    TradingStateEvent,
)
from smc_agent.store.models.trading import BacktestRun, Bot, Candle, Order, Position, Signal, Trade
from smc_agent.store.models.users import ApiKey, ExchangeAccount, User, UserSession

__all__ = [
    "ApiKey",
    "AuditLog",
    "BacktestRun",
    "Base",
    "Bot",
    "Candle",
    "ControlState",
    "ExchangeAccount",
    "FailoverEvent",
    "Incident",
    "IncidentEvent",
    "IncidentTask",
    "NotificationOutbox",
    "Order",
    "Position",
    "Signal",
    "Trade",
    "TradingStateEvent",
    "User",
    "UserSession",
]
