"""order risk denials; orders of a bot belong to its owner

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Adds ``orders.risk_check`` and ``orders.risk_figures`` (the check that denied an order and the
figures it compared), and gives the rows of bots written without an owner (``user_id`` NULL) their
bot's owner.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_OWNER = "(SELECT bots.user_id FROM bots WHERE bots.id = {table}.bot_id)"


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk_check", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "risk_figures",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    for table in ("orders", "trades", "signals"):
        op.execute(
            f"UPDATE {table} SET user_id = {_OWNER.format(table=table)} "
            "WHERE user_id IS NULL AND bot_id IS NOT NULL"
        )
    # positions are unique per (user, bot, exchange, symbol): leave a row alone if its owner's exists
    op.execute(
        f"UPDATE positions SET user_id = {_OWNER.format(table='positions')} "
        "WHERE user_id IS NULL AND bot_id IS NOT NULL AND NOT EXISTS ("
        "SELECT 1 FROM positions AS p2 JOIN bots ON bots.id = positions.bot_id "
        "WHERE p2.user_id = bots.user_id AND p2.bot_id = positions.bot_id "
        "AND p2.exchange = positions.exchange AND p2.symbol = positions.symbol)"
    )


def downgrade() -> None:
    # the owners given to bot rows stay (they are the bots' owners either way)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("risk_figures")
        batch_op.drop_column("risk_check")
