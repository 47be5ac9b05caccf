"""an entry's stop-loss and take-profit are stored with it

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Adds ``orders.stop_loss`` and ``orders.take_profit``: the protective exits an entry asks for once it
fills. They lived only in memory, so an entry working at a restart filled afterwards without them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smc_agent.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stop_loss", smc_agent.store.types.Money(precision=38, scale=18), nullable=True)
        )
        batch_op.add_column(
            sa.Column("take_profit", smc_agent.store.types.Money(precision=38, scale=18), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("take_profit")
        batch_op.drop_column("stop_loss")
