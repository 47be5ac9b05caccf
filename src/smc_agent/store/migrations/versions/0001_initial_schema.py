"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import smc_agent.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_table(
        "candles",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("open_time", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("open", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("high", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("low", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("close", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("volume", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candles")),
        sa.UniqueConstraint(
            "exchange",
            "symbol",
            "timeframe",
            "open_time",
            name=op.f("uq_candles_exchange_symbol_timeframe_open_time"),
        ),
    )
    op.create_table(
        "control_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_control_state")),
    )
    op.create_table(
        "failover_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_venue", sa.String(length=32), nullable=True),
        sa.Column("to_venue", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failover_events")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("impact", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("commander", sa.String(length=100), nullable=True),
        sa.Column("cause_key", sa.String(length=128), nullable=True),
        sa.Column("started_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("mitigated_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("data_lost", sa.Boolean(), nullable=True),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_cause_key"), ["cause_key"], unique=False)

    op.create_table(
        "trading_state_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("previous_state", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_state_events")),
    )
    with op.batch_alter_table("trading_state_events", schema=None) as batch_op:
        batch_op.create_index("ix_trading_state_events_created_at", ["created_at"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("expires_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rotated_from", sa.String(length=40), nullable=True),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "backtests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_backtests_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtests")),
    )
    with op.batch_alter_table("backtests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backtests_user_id"), ["user_id"], unique=False)

    op.create_table(
        "bots",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column(
            "symbols",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "timeframes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bots_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bots")),
    )
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bots_user_id"), ["user_id"], unique=False)

    op.create_table(
        "exchange_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("credentials_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("key_hint", sa.String(length=32), nullable=False),
        sa.Column("testnet", sa.Boolean(), nullable=False),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_exchange_accounts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_accounts")),
    )
    with op.batch_alter_table("exchange_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exchange_accounts_user_id"), ["user_id"], unique=False)

    op.create_table(
        "incident_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_events_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_events_incident_id"), ["incident_id"], unique=False)

    op.create_table(
        "incident_tasks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("due_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_tasks_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_tasks")),
    )
    with op.batch_alter_table("incident_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_tasks_incident_id"), ["incident_id"], unique=False)

    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_notification_outbox_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
    )
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_outbox_status_next", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("login_time", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("last_seen", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_user_sessions_login_time", ["login_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("venue_order_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("bot_id", sa.String(length=40), nullable=True),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("time_in_force", sa.String(length=8), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("quantity", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("price", smc_agent.store.types.Money(precision=38, scale=18), nullable=True),
        sa.Column("stop_price", smc_agent.store.types.Money(precision=38, scale=18), nullable=True),
        sa.Column("filled_quantity", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("average_price", smc_agent.store.types.Money(precision=38, scale=18), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("tag", sa.String(length=64), nullable=True),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_orders_bot_id_bots"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_orders_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_bot_id"), ["bot_id"], unique=False)
        batch_op.create_index("ix_orders_exchange_symbol", ["exchange", "symbol"], unique=False)
        batch_op.create_index("ix_orders_status", ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_user_id"), ["user_id"], unique=False)

    op.create_table(
        "positions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("bot_id", sa.String(length=40), nullable=True),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("quantity", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("average_price", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("realized_pnl", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("fees", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("stranded", sa.Boolean(), nullable=False),
        sa.Column("updated_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_positions_bot_id_bots"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_positions_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint(
            "user_id",
            "bot_id",
            "exchange",
            "symbol",
            name=op.f("uq_positions_user_id_bot_id_exchange_symbol"),
        ),
    )
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_positions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "signals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("bot_id", sa.String(length=40), nullable=True),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.Integer(), nullable=False),
        sa.Column("price", smc_agent.store.types.Money(precision=38, scale=18), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_signals_bot_id_bots"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_signals_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signals_bot_id"), ["bot_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_signals_user_id"), ["user_id"], unique=False)

    op.create_table(
        "trades",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("bot_id", sa.String(length=40), nullable=True),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("venue_trade_id", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("price", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("market_price", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("fee", smc_agent.store.types.Money(precision=38, scale=18), nullable=False),
        sa.Column("fee_currency", sa.String(length=16), nullable=True),
        sa.Column("liquidity", sa.String(length=8), nullable=True),
        sa.Column("timestamp", smc_agent.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_trades_bot_id_bots"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_trades_order_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_trades_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
        sa.UniqueConstraint("exchange", "venue_trade_id", name=op.f("uq_trades_exchange_venue_trade_id")),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trades_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_trades_timestamp", ["timestamp"], unique=False)
        batch_op.create_index(batch_op.f("ix_trades_user_id"), ["user_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trades_user_id"))
        batch_op.drop_index("ix_trades_timestamp")
        batch_op.drop_index(batch_op.f("ix_trades_order_id"))

    op.drop_table("trades")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signals_user_id"))
        batch_op.drop_index(batch_op.f("ix_signals_bot_id"))

    op.drop_table("signals")
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_positions_user_id"))

    op.drop_table("positions")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_user_id"))
        batch_op.drop_index("ix_orders_status")
        batch_op.drop_index("ix_orders_exchange_symbol")
        batch_op.drop_index(batch_op.f("ix_orders_bot_id"))

    op.drop_table("orders")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))
        batch_op.drop_index("ix_user_sessions_login_time")

    op.drop_table("user_sessions")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_outbox_status_next")

    op.drop_table("notification_outbox")
    with op.batch_alter_table("incident_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_tasks_incident_id"))

    op.drop_table("incident_tasks")
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_events_incident_id"))

    op.drop_table("incident_events")
    with op.batch_alter_table("exchange_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_accounts_user_id"))

    op.drop_table("exchange_accounts")
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bots_user_id"))

    op.drop_table("bots")
    with op.batch_alter_table("backtests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtests_user_id"))

    op.drop_table("backtests")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_user_id"))

    op.drop_table("api_keys")
    op.drop_table("users")
    with op.batch_alter_table("trading_state_events", schema=None) as batch_op:
        batch_op.drop_index("ix_trading_state_events_created_at")

    op.drop_table("trading_state_events")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_cause_key"))

    op.drop_table("incidents")
    op.drop_table("failover_events")
    op.drop_table("control_state")
    op.drop_table("candles")
    op.drop_table("audit_log")
