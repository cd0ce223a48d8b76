"""SQLModel tables of the ticket store.

Column names of `Ticket` are a contract (docs/ARCHITECTURE.md "ticketing"): the mining
analyses and the server read them. Schema changes go through a new Alembic revision in
ticketing/migrations/versions, never by editing the tables in place.

All datetimes are naive Asia/Shanghai wall-clock times (the working-day calendar is local).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata


class LocalDateTime(sa.types.TypeDecorator):
    """Naive Shanghai wall-clock time in the database; aware values are converted on the way in."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001, ANN201
        from ticketing.clock import to_local

        return to_local(value)


def _now() -> datetime:
    from ticketing.clock import now_local

    return now_local()


class Call(SQLModel, table=True):
    __tablename__ = "call"

    call_id: str = Field(primary_key=True, max_length=64)
    audio: Optional[str] = Field(default=None, description="file path or URL of the recording")
    duration: Optional[float] = None
    channels: Optional[int] = None
    sample_rate: Optional[int] = None
    timings: Optional[dict[str, Any]] = Field(default=None, sa_type=sa.JSON)
    started_at: Optional[datetime] = Field(default=None, sa_type=LocalDateTime)
    ended_at: Optional[datetime] = Field(default=None, sa_type=LocalDateTime)
    # the live call's lease (ticketing/leases.py): the `hotline serve` holding it, its last
    # heartbeat (epoch seconds; NULL once the call ended), and the operator (token name) it is for
    server_id: Optional[str] = Field(default=None, max_length=64)
    lease_at: Optional[float] = Field(default=None, index=True)
    operator: Optional[str] = Field(default=None, max_length=64)


class TranscriptSegment(SQLModel, table=True):
    __tablename__ = "transcript_segment"
    __table_args__ = (sa.UniqueConstraint("call_id", "seg_id", name="uq_segment_call_seg"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="call.call_id", index=True, max_length=64, ondelete="CASCADE")
    seg_id: int
    start: float
    end: float
    text: str
    speaker: Optional[str] = Field(default=None, max_length=16)


class Ticket(SQLModel, table=True):
    __tablename__ = "ticket"
    __table_args__ = (
        # revision 0002: the duplicate lookup filters on both
        sa.Index("ix_ticket_category_place", "category", "place_key"),
        # revision 0003: covering indexes of the mining analyses (ticketing/mining/db.py)
        sa.Index("ix_mining_created_cat_place", "created_at", "category", "district", "street", "place_key"),
        sa.Index("ix_mining_cat_street_created", "category", "street", "created_at"),
        sa.Index("ix_mining_cat_place_created", "category", "place_key", "created_at", "district", "street"),
        sa.Index("ix_mining_created_dept", "created_at", "department", "satisfaction", "resolve_by", "resolved_at",
                 "appeal_type"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    call_id: Optional[str] = Field(default=None, unique=True, max_length=64)
    created_at: datetime = Field(default_factory=_now, index=True, sa_type=LocalDateTime)
    updated_at: datetime = Field(default_factory=_now, sa_type=LocalDateTime)
    state: str = Field(default="draft", index=True, max_length=16)
    appeal_type: Optional[str] = Field(default=None, max_length=8)
    category: Optional[str] = Field(default=None, index=True, max_length=64)
    category_l1: Optional[str] = Field(default=None, max_length=32)
    urgency: Optional[str] = Field(default=None, max_length=8)
    district: Optional[str] = Field(default=None, index=True, max_length=16)
    street: Optional[str] = Field(default=None, index=True, max_length=32)
    road: Optional[str] = Field(default=None, max_length=64)
    address: Optional[str] = None
    landmark: Optional[str] = None
    lat: Optional[float] = None
    lon: Optional[float] = None
    place_key: Optional[str] = Field(default=None, index=True, max_length=128)
    department: Optional[str] = Field(default=None, max_length=64)
    co_handler: Optional[str] = Field(default=None, max_length=64)
    company: Optional[str] = None
    caller_name: Optional[str] = Field(default=None, max_length=32)
    phone: Optional[str] = Field(default=None, index=True, max_length=32)
    summary: Optional[str] = None
    transcript: Optional[str] = None
    kb_ids: Optional[list[str]] = Field(default=None, sa_type=sa.JSON)
    draft: Optional[dict[str, Any]] = Field(default=None, sa_type=sa.JSON)
    dispatched_at: Optional[datetime] = Field(default=None, sa_type=LocalDateTime)
    response_by: Optional[datetime] = Field(default=None, sa_type=LocalDateTime)
    resolve_by: Optional[datetime] = Field(default=None, sa_type=LocalDateTime)
    contacted_at: Optional[datetime] = Field(default=None, sa_type=LocalDateTime)
    resolved_at: Optional[datetime] = Field(default=None, sa_type=LocalDateTime)
    closed_at: Optional[datetime] = Field(default=None, sa_type=LocalDateTime)
    extended: bool = False
    extension_reason: Optional[str] = None
    warning: bool = False
    supervised: bool = False
    satisfaction: Optional[str] = Field(default=None, max_length=8)
    merged_into: Optional[int] = Field(default=None, foreign_key="ticket.id")
    round: int = 1
    # revision 0002: fields the operator set by hand; later pipeline drafts do not overwrite them
    locked_fields: Optional[list[str]] = Field(default=None, sa_type=sa.JSON)
    # revision 0004: +1 on every change of the row; an operator action may name the version it saw
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class TicketEvent(SQLModel, table=True):
    """Append-only: the store only ever inserts rows here."""

    __tablename__ = "ticket_event"

    id: Optional[int] = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="CASCADE")
    at: datetime = Field(default_factory=_now, sa_type=LocalDateTime)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    changes: Optional[dict[str, Any]] = Field(default=None, sa_type=sa.JSON)  # {field: [old, new]}
    note: Optional[str] = None


class Department(SQLModel, table=True):
    __tablename__ = "department"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    district: Optional[str] = Field(default=None, max_length=16)
    kind: Optional[str] = Field(default=None, max_length=32, description="duty, e.g. 水务局, 街道办事处")


class Company(SQLModel, table=True):
    __tablename__ = "company"

    credit_code: str = Field(primary_key=True, max_length=18)
    name: str = Field(index=True)
    short_name: Optional[str] = None
    district: Optional[str] = Field(default=None, max_length=16)
    address: Optional[str] = None
    industry: Optional[str] = None


class KbArticle(SQLModel, table=True):
    __tablename__ = "kb_article"

    id: str = Field(primary_key=True, max_length=32)
    title: str
    keywords: Optional[list[str]] = Field(default=None, sa_type=sa.JSON)
    questions: Optional[list[str]] = Field(default=None, sa_type=sa.JSON)
    answer: str
    department: Optional[str] = None
    updated: Optional[str] = Field(default=None, max_length=10)
    demo: bool = False


class ApiToken(SQLModel, table=True):
    """For the server's auth (it owns the logic); only a hash of the token is stored."""

    __tablename__ = "api_token"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    token_hash: str = Field(unique=True, max_length=128)
    role: str = Field(default="operator", max_length=16)
    created_at: datetime = Field(default_factory=_now, sa_type=LocalDateTime)


class BatchJob(SQLModel, table=True):
    """A batch transcription job (web/jobs.py, ticketing/job_store.py). Its uploads lie in
    `folder`, inside the jobs folder every server of the centre shares; times are epoch seconds."""

    __tablename__ = "batch_job"

    id: str = Field(primary_key=True, max_length=32)
    owner: str = Field(max_length=64)
    status: str = Field(default="queued", max_length=16)  # queued, running, done, cancelled
    folder: str
    created_at: float
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    expires_at: Optional[float] = Field(default=None, index=True)  # removed with its files after this


class BatchJobFile(SQLModel, table=True):
    """One uploaded recording of a batch job; claimed by one server's worker at a time."""

    __tablename__ = "batch_job_file"

    id: Optional[int] = Field(default=None, primary_key=True)
    job_id: str = Field(index=True, max_length=32)
    seq: int
    name: str
    path: str
    call_id: str = Field(max_length=64)
    status: str = Field(default="queued", index=True, max_length=16)  # queued, running, done, failed, cancelled
    error: Optional[str] = None
    duration_s: Optional[float] = None
    ticket_id: Optional[int] = None
    draft: Optional[dict[str, Any]] = Field(default=None, sa_type=sa.JSON)
    server_id: Optional[str] = Field(default=None, max_length=64)  # the worker's server while running
    claimed_at: Optional[float] = None  # that server's last heartbeat for it
