"""Possible duplicates (重复工单): open tickets of the same category at the same place, tickets of
the same caller, and the places complaints repeat at. TicketStore inherits these queries."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select

from ticketing import lifecycle
from ticketing.models import Ticket
from ticketing.store_base import StoreBase, day_start, json_value, ticket_brief

RELATED_WINDOW = timedelta(days=30)


class Related(StoreBase):
    def related(self, ticket_id: int) -> list[dict[str, Any]]:
        """Open tickets of the same category at the same place within 30 days of this one
        (同一地点同类诉求), and tickets from the same phone (同一来电号码). Each with `reasons`."""
        with self.session() as session:
            ticket = self._ticket(session, ticket_id)
            found: dict[int, tuple[Ticket, list[str]]] = {}
            if ticket.category and ticket.place_key:
                stmt = select(Ticket).where(
                    Ticket.id != ticket.id, Ticket.category == ticket.category, Ticket.place_key == ticket.place_key,
                    col(Ticket.state).in_(lifecycle.open_states() + ["resolved", "visited"]),
                    Ticket.created_at >= ticket.created_at - RELATED_WINDOW,
                    Ticket.created_at <= ticket.created_at + RELATED_WINDOW)
                for other in session.exec(stmt).all():
                    found.setdefault(other.id, (other, []))[1].append("同一地点同类诉求")
            if ticket.phone:
                stmt = select(Ticket).where(Ticket.id != ticket.id, Ticket.phone == ticket.phone,
                                            Ticket.state != "merged")
                for other in session.exec(stmt).all():
                    found.setdefault(other.id, (other, []))[1].append("同一来电号码")
            ordered = sorted(found.values(), key=lambda pair: (-len(pair[1]), pair[0].created_at), reverse=False)
            return [{**ticket_brief(t), "reasons": reasons} for t, reasons in ordered]

    def place_counts(self, *, category: str | None = None, since: date | datetime | str | None = None,
                     min_count: int = 2, limit: int = 50) -> list[dict[str, Any]]:
        """Repeated complaints: tickets per (place_key, category), merged ones included (each is a call)."""
        with self.session() as session:
            stmt = select(Ticket.place_key, Ticket.category, func.count().label("n"),
                          func.max(Ticket.created_at).label("last")).where(col(Ticket.place_key).is_not(None))
            if category:
                stmt = stmt.where(Ticket.category == category)
            if since:
                stmt = stmt.where(Ticket.created_at >= day_start(since))
            stmt = (stmt.group_by(Ticket.place_key, Ticket.category).having(func.count() >= min_count)
                    .order_by(sa.desc("n"), sa.desc("last")).limit(limit))
            return [{"place_key": p, "category": c, "count": n, "last": json_value(last)}
                    for p, c, n, last in session.exec(stmt).all()]
