"""Bots, orders, trades (fills), positions, signals, candles and backtest jobs.

Money columns are exact decimals (:class:`~smc_agent.store.types.Money`), timestamps are aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smc_agent.store.models.base import Base, CreatedAt
from smc_agent.store.types import JSONType, Money, UTCDateTime, new_id, utcnow


class Bot(CreatedAt, Base):
    __tablename__ = "bots"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("bot"))
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    strategy: Mapped[str] = mapped_column(String(64), nullable=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    venue: Mapped[str] = mapped_column(String(32), nullable=False)
    symbols: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    timeframes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    mode: Mapped[str] = mapped_column(String(8), nullable=False, default="paper")
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="stopped")
    state_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class Order(Base):
    """Every order intent, written before it is sent (write-ahead), with its deterministic client id;
    and every order the risk gate denied (status ``denied``, never sent)."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status", "status"),
        Index("ix_orders_exchange_symbol", "exchange", "symbol"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ord"))
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    venue_order_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    bot_id: Mapped[str | None] = mapped_column(ForeignKey("bots.id", ondelete="SET NULL"), index=True)
    exchange: Mapped[str] = mapped_column(String(32), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    side: Mapped[str] = mapped_column(String(4), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    time_in_force: Mapped[str | None] = mapped_column(String(8))
    reduce_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    quantity: Mapped[Decimal] = mapped_column(Money, nullable=False)
    price: Mapped[Decimal | None] = mapped_column(Money)
    stop_price: Mapped[Decimal | None] = mapped_column(Money)
    # an entry's protective exits, attached when it fills (kept here so that a restart keeps them)
    stop_loss: Mapped[Decimal | None] = mapped_column(Money)
    take_profit: Mapped[Decimal | None] = mapped_column(Money)
    filled_quantity: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal(0))
    average_price: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    # a risk denial: the name of the check that refused the order and the figures it compared
    risk_check: Mapped[str | None] = mapped_column(String(64))
    risk_figures: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    tag: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a cancel was asked for: sent again at every poll while the order is open (survives a restart)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Trade(Base):
    """One fill. ``market_price`` is the reference price when the order was sent (forensics)."""

    __tablename__ = "trades"
    __table_args__ = (
        UniqueConstraint("exchange", "venue_trade_id"),
        Index("ix_trades_timestamp", "timestamp"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("trd"))
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    bot_id: Mapped[str | None] = mapped_column(ForeignKey("bots.id", ondelete="SET NULL"))
    exchange: Mapped[str] = mapped_column(String(32), nullable=False)
    venue_trade_id: Mapped[str] = mapped_column(String(64), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    side: Mapped[str] = mapped_column(String(4), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Money, nullable=False)
    price: Mapped[Decimal] = mapped_column(Money, nullable=False)
    market_price: Mapped[Decimal] = mapped_column(Money, nullable=False)
    fee: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal(0))
    fee_currency: Mapped[str | None] = mapped_column(String(16))
    liquidity: Mapped[str | None] = mapped_column(String(8))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Position(Base):
    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("user_id", "bot_id", "exchange", "symbol"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("pos"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    bot_id: Mapped[str | None] = mapped_column(ForeignKey("bots.id", ondelete="SET NULL"))
    exchange: Mapped[str] = mapped_column(String(32), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal(0))
    average_price: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal(0))
    realized_pnl: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal(0))
    fees: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal(0))
    stranded: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class Signal(CreatedAt, Base):
    __tablename__ = "signals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sig"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    bot_id: Mapped[str | None] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), index=True)
    exchange: Mapped[str] = mapped_column(String(32), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    timeframe: Mapped[str] = mapped_column(String(8), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    direction: Mapped[int] = mapped_column(nullable=False, default=0)
    price: Mapped[Decimal | None] = mapped_column(Money)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)


class Candle(Base):
    __tablename__ = "candles"
    __table_args__ = (UniqueConstraint("exchange", "symbol", "timeframe", "open_time"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    exchange: Mapped[str] = mapped_column(String(32), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    timeframe: Mapped[str] = mapped_column(String(8), nullable=False)
    open_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    open: Mapped[Decimal] = mapped_column(Money, nullable=False)
    high: Mapped[Decimal] = mapped_column(Money, nullable=False)
    low: Mapped[Decimal] = mapped_column(Money, nullable=False)
    close: Mapped[Decimal] = mapped_column(Money, nullable=False)
    volume: Mapped[Decimal] = mapped_column(Money, nullable=False)
    source: Mapped[str | None] = mapped_column(String(32))


class BacktestRun(CreatedAt, Base):
    __tablename__ = "backtests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("bt"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    progress: Mapped[float] = mapped_column(nullable=False, default=0.0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    report_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
