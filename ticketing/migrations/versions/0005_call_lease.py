"""call.server_id, call.lease_at, call.operator: the lease of a live call, so another server can
take over a call whose server died, and survivors finish orphaned calls (ticketing/leases.py)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.add_column(sa.Column("server_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("operator", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_call_lease_at", ["lease_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.drop_index("ix_call_lease_at")
        batch_op.drop_column("operator")
        batch_op.drop_column("lease_at")
        batch_op.drop_column("server_id")
