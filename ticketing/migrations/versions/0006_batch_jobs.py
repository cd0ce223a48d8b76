"""batch_job, batch_job_file: batch transcription jobs in the shared store, so any server
answers for a job and a survivor finishes the files of a server that died (ticketing/job_store.py)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_job",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("folder", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("batch_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_job_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "batch_job_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("draft", sa.JSON(), nullable=True),
        sa.Column("server_id", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("batch_job_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_job_file_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_batch_job_file_status"), ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("batch_job_file")
    op.drop_table("batch_job")
