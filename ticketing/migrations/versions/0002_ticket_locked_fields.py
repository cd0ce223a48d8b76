"""ticket.locked_fields (fields the operator set by hand) and a (category, place_key) index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_fields", sa.JSON(), nullable=True))
        batch_op.create_index("ix_ticket_category_place", ["category", "place_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_category_place")
        batch_op.drop_column("locked_fields")
