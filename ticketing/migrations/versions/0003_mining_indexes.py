"""covering indexes for the mining analyses (ticketing/mining/db.py MINING_INDEXES)

Frozen copy of the mining engineer's index list, so the schema is whole after `upgrade head`.
Databases where ticketing.mining.db.ensure_indexes already created them are left as they are.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_mining_created_cat_place": ["created_at", "category", "district", "street", "place_key"],
    "ix_mining_cat_street_created": ["category", "street", "created_at"],
    "ix_mining_cat_place_created": ["category", "place_key", "created_at", "district", "street"],
    "ix_mining_created_dept": ["created_at", "department", "satisfaction", "resolve_by", "resolved_at", "appeal_type"],
}


def upgrade() -> None:
    have = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("ticket")}
    for name, columns in INDEXES.items():
        if name not in have:
            op.create_index(name, "ticket", columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="ticket")
