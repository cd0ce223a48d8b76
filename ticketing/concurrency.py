"""Two operators acting on one ticket at once: one wins, the other is told (ConflictError, HTTP 409).

Every change of a ticket row bumps `ticket.version` (`touch`). An action that names the version
its operator saw (`expect_version`, the REST `If-Match` header) fails with ConflictError when
the ticket moved on meanwhile. Without a version, the actions still serialise per ticket: the
row is locked before it is read (PostgreSQL `SELECT ... FOR UPDATE`; SQLite `BEGIN IMMEDIATE`,
the database's write lock), so the second of two dispatches sees the first one's state and gets
the lifecycle's TransitionError instead of dispatching twice.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from ticketing.lifecycle import ConflictError


def begin_write(session: Session) -> None:
    """On SQLite, take the write lock before the first read of the transaction (PostgreSQL locks
    the row itself with FOR UPDATE). Waits for another writer up to the busy timeout."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def check_version(ticket: Any, expect_version: int | None) -> None:
    if expect_version is None or ticket.version == expect_version:
        return
    raise ConflictError(f"ticket {ticket.id} changed since version {expect_version} (now version "
                        f"{ticket.version}, state {ticket.state}): another action came first; "
                        f"reload the ticket and try again")


def touch(ticket: Any, now: datetime) -> None:
    """Mark a change of the row: updated_at and the next version."""
    ticket.updated_at = now
    ticket.version = (ticket.version or 0) + 1


def parse_version(value: str | int | None) -> int | None:
    """An If-Match value (`3`, `"3"`, `W/"3"`) as a version number; ValueError when it is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise ValueError(f"If-Match must be a ticket version number, got {value!r}")
    return int(text)
