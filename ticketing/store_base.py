"""The plumbing every part of TicketStore shares: sessions, the locked ticket row, the event log,
change tracking, and the plain-dict forms results take (datetimes as ISO strings).

TicketStore (ticketing/store.py) is assembled from parts that each do one job: drafts and
reading (store.py), the lifecycle's moves (workflow.py), time limits (overdue.py), possible
duplicates (related.py) and reference data (reference.py). Each part is a `StoreBase`.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from ticketing import lifecycle
from ticketing.clock import to_local
from ticketing.concurrency import begin_write, check_version
from ticketing.models import Ticket, TicketEvent
from ticketing.sla import compute_deadlines

BRIEF_KEYS = ("id", "call_id", "state", "created_at", "appeal_type", "category", "district", "address",
              "place_key", "phone", "caller_name", "summary", "department", "warning", "merged_into")


class TicketNotFound(KeyError):
    def __str__(self) -> str:
        return f"no ticket {self.args[0]}"


class StoreBase:
    """What the parts of TicketStore have in common; TicketStore.__init__ sets the attributes."""

    url: str
    engine: sa.Engine
    taxonomy: dict[str, Any]

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _ticket(self, session: Session, ticket_id: int, *, lock: bool = False,
                expect_version: int | None = None) -> Ticket:
        """lock: the row is held until the transaction ends (see ticketing.concurrency);
        expect_version: ConflictError if the ticket changed since that version."""
        stmt = select(Ticket).where(Ticket.id == ticket_id)
        if lock:
            begin_write(session)
            if self.engine.dialect.name == "postgresql":
                stmt = stmt.with_for_update()
        ticket = session.exec(stmt).first()
        if ticket is None:
            raise TicketNotFound(ticket_id)
        check_version(ticket, expect_version)
        return ticket

    @staticmethod
    def _event(session: Session, ticket: Ticket, actor: str, action: str, changes: dict[str, Any] | None,
               note: str | None, at: datetime) -> None:
        session.add(TicketEvent(ticket_id=ticket.id, at=at, actor=actor, action=action,
                                changes=changes or None, note=note))

    @staticmethod
    def _set(ticket: Ticket, values: dict[str, Any]) -> dict[str, list[Any]]:
        """Assign and return {field: [old, new]} for what actually changed."""
        changes: dict[str, list[Any]] = {}
        for key, new in values.items():
            old = getattr(ticket, key)
            if old != new:
                setattr(ticket, key, new)
                changes[key] = [json_value(old), json_value(new)]
        return changes

    def _deadline_values(self, ticket: Ticket, start: datetime) -> dict[str, datetime]:
        found = compute_deadlines(ticket.appeal_type, ticket.urgency, start, taxonomy=self.taxonomy)
        return {"response_by": found.response_by, "resolve_by": found.resolve_by}


def add_changes(changes: dict[str, list[Any]], more: dict[str, list[Any]]) -> None:
    """Fold later {field: [old, new]} into `changes`: the first old, the last new; a field set
    back to where it started (a draft's department None, then routed again) is no change."""
    for key, (old, new) in more.items():
        first = changes[key][0] if key in changes else old
        if first == new:
            changes.pop(key, None)
        else:
            changes[key] = [first, new]


# -- the plain-dict forms of results -----------------------------------------------------------

def json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def ticket_dict(ticket: Ticket) -> dict[str, Any]:
    """The whole ticket, with the lifecycle moves allowed from its state."""
    data = ticket.model_dump(mode="json")
    data["allowed"] = lifecycle.allowed(ticket.state)
    return data


def ticket_brief(ticket: Ticket) -> dict[str, Any]:
    """The few columns a list of related or flagged tickets shows."""
    return {k: json_value(getattr(ticket, k)) for k in BRIEF_KEYS}


# -- dates in filters ---------------------------------------------------------------------------

def day_start(value: date | datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return to_local(value)
    return datetime.combine(value, datetime.min.time())


def day_end(value: date | datetime | str) -> datetime:
    """Exclusive upper bound: a plain date includes that whole day."""
    if isinstance(value, str) and "T" not in value and " " not in value:
        value = date.fromisoformat(value)
    if isinstance(value, datetime) or isinstance(value, str):
        return day_start(value)
    return datetime.combine(value + timedelta(days=1), datetime.min.time())
