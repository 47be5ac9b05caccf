"""a cancel asked for an order is stored with it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Adds ``orders.cancel_requested_at``: when a cancel was asked for the order. The cancels the venue did
not answer were retried from memory only, so a restart of the execution engine forgot them and the
order kept working (and could fill); a cancel asked while the order's acknowledgement was lost was
dropped, and the order a late request placed kept working.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smc_agent.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cancel_requested_at", smc_agent.store.types.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("cancel_requested_at")
