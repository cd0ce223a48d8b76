"""Time limits after dispatch (限时办结): which tickets are past their first-contact or resolve
deadline, and 督办 (supervision) of them. The deadlines themselves come from ticketing/sla.py;
TicketStore inherits these queries."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from ticketing import lifecycle
from ticketing.clock import now_local, to_local
from ticketing.concurrency import touch
from ticketing.models import Ticket
from ticketing.store_base import StoreBase, ticket_brief, ticket_dict


class Overdue(StoreBase):
    def overdue(self, now: datetime | None = None, *, limit: int | None = None,
                offset: int = 0) -> list[dict[str, Any]]:
        """Tickets with the department whose first contact or resolution is late, with `overdue`
        = ["response"] and/or ["resolve"]; most overdue first."""
        now = to_local(now) or now_local()
        with self.session() as session:
            return [{**ticket_dict(t), "overdue": kinds} for t, kinds in self._overdue(session, now, limit, offset)]

    def overdue_map(self, now: datetime | None = None) -> dict[int, list[str]]:
        """{ticket id: overdue kinds} for all overdue tickets; reads four columns only (cheap for list views)."""
        now = to_local(now) or now_local()
        stmt = (sa.select(Ticket.id, Ticket.state, Ticket.response_by, Ticket.resolve_by)
                .where(*self._overdue_where(now)))
        with self.session() as session:
            rows = session.execute(stmt).all()
        return {tid: overdue_kinds(state, response_by, resolve_by, now) for tid, state, response_by, resolve_by in rows}

    @staticmethod
    def _overdue_where(now: datetime) -> list[Any]:
        return [col(Ticket.state).in_(lifecycle.clock_states()),
                or_(Ticket.resolve_by < now, sa.and_(Ticket.state == "dispatched", Ticket.response_by < now))]

    def _overdue(self, session: Session, now: datetime, limit: int | None = None,
                 offset: int = 0) -> Iterator[tuple[Ticket, list[str]]]:
        stmt = select(Ticket).where(*self._overdue_where(now)).order_by(Ticket.resolve_by, Ticket.id).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        for ticket in session.exec(stmt).all():
            yield ticket, overdue_kinds(ticket.state, ticket.response_by, ticket.resolve_by, now)

    def supervise(self, now: datetime | None = None, actor: str = "system") -> list[dict[str, Any]]:
        """Flag overdue tickets 督办 (supervised) and log it; returns the newly flagged ones."""
        now = to_local(now) or now_local()
        flagged = []
        with self.session() as session, session.begin():
            for ticket, kinds in list(self._overdue(session, now)):
                if ticket.supervised:
                    continue
                changes = self._set(ticket, {"supervised": True})
                touch(ticket, now)
                what = "、".join({"response": "首次联系超时", "resolve": "办结超时"}[k] for k in kinds)
                self._event(session, ticket, actor, "supervise", changes, f"督办: {what}", now)
                flagged.append({**ticket_brief(ticket), "overdue": kinds})
        return flagged


def overdue_kinds(state: str, response_by: datetime | None, resolve_by: datetime | None, now: datetime) -> list[str]:
    """The limits past: "response" (first contact late, still dispatched) and/or "resolve"."""
    kinds = []
    if state == "dispatched" and response_by and response_by < now:
        kinds.append("response")
    if resolve_by and resolve_by < now:
        kinds.append("resolve")
    return kinds
