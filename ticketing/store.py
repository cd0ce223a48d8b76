"""TicketStore: the ticket system a 12345 centre runs on (drafts, lifecycle, deadlines, duplicates).

This module holds the store's life (engine, migrations), the drafts a call writes, reading and
searching, and the operator's edits; the rest comes from its parts (ticketing/store_base.py):
workflow.py (lifecycle moves), overdue.py (time limits), related.py (possible duplicates) and
reference.py (companies, KB articles, departments).

Every public method opens its own short transaction and commits before returning, so a draft
written during a call is on disk the moment `upsert_draft` returns. Results are plain
JSON-serialisable dicts (datetimes as ISO strings, naive Shanghai time).
"""
from __future__ import annotations

import dataclasses
import json
import logging
from datetime import date, datetime
from typing import Any, Iterable

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select

from ticketing import db
from ticketing.clock import now_local, to_local
from ticketing.concurrency import touch
from ticketing.lifecycle import TransitionError
from ticketing.models import Call, Ticket, TicketEvent, TranscriptSegment
from ticketing.overdue import Overdue
from ticketing.places import place_key_of
from ticketing.reference import ReferenceData
from ticketing.related import Related
from ticketing.routing import route
from ticketing.sla import compute_deadlines
from ticketing.store_base import TicketNotFound, add_changes, day_end, day_start, ticket_dict
from ticketing.taxonomy_data import category_info, load_taxonomy
from ticketing.workdays import CalendarRangeError
from ticketing.workflow import Workflow

__all__ = ["TicketStore", "TicketNotFound", "DRAFT_COLUMNS", "EDITABLE"]

log = logging.getLogger(__name__)

# draft dict keys copied one-to-one into ticket columns
DRAFT_COLUMNS = ("appeal_type", "category", "category_l1", "urgency", "district", "street", "road", "address",
                 "landmark", "department", "co_handler", "company", "caller_name", "phone", "summary",
                 "transcript", "kb_ids")
# what the operator may edit by hand (update())
EDITABLE = DRAFT_COLUMNS[:-2] + ("kb_ids", "lat", "lon")
# pipeline updates to these are not worth an event each (they change with every segment)
QUIET_FIELDS = {"transcript", "summary", "kb_ids", "draft"}
ROUTING_INPUTS = ("category", "district", "street")


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"expected a dict or dataclass, got {type(obj).__name__}")


class TicketStore(Workflow, Overdue, Related, ReferenceData):
    """See docs/ticketing.md. `url`: any SQLAlchemy URL; None -> Settings().db_url() (SQLite, WAL)."""

    def __init__(self, url: str | None = None, *, upgrade: bool = True,
                 taxonomy: dict[str, Any] | None = None) -> None:
        self.url = url or db.default_url()
        self.engine = db.make_engine(self.url)
        self.taxonomy = taxonomy or load_taxonomy()
        if upgrade:
            db.upgrade(self.engine)

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "TicketStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- drafts during the call -----------------------------------------------------------

    def _ensure_call(self, session: Session, call_id: str, call: dict[str, Any] | None = None) -> Call:
        row = session.get(Call, call_id)
        if row is None:
            row = Call(call_id=call_id)
            session.add(row)
        for key in ("audio", "duration", "channels", "sample_rate", "timings", "started_at", "ended_at"):
            if call and call.get(key) is not None:
                value = call[key]
                setattr(row, key, to_local(value) if key.endswith("_at") else value)
        return row

    def _draft_values(self, draft: dict[str, Any]) -> dict[str, Any]:
        values = {k: draft.get(k) for k in DRAFT_COLUMNS if k in draft}
        location = draft.get("location") or {}
        if values.get("phone"):
            values["phone"] = _clean_phone(values["phone"])
        if "location" in draft:
            values["lat"], values["lon"] = location.get("lat"), location.get("lon")
        return values

    def _provisional_deadlines(self, ticket: Ticket, now: datetime) -> dict[str, Any]:
        """Before dispatch the ticket shows the limits as if dispatched now (what the operator tells the caller)."""
        # computed here, not taken from draft["deadlines"], so there is one definition (ticketing.sla)
        try:
            found = compute_deadlines(ticket.appeal_type, ticket.urgency, now, taxonomy=self.taxonomy)
            return {"response_by": found.response_by, "resolve_by": found.resolve_by}
        except (CalendarRangeError, ValueError) as exc:
            # never lose a draft over a deadline: leave it empty, dispatch will say why
            log.warning("no provisional deadlines for call %s: %s", ticket.call_id, exc)
            return {"response_by": None, "resolve_by": None}

    def upsert_draft(self, draft: dict[str, Any] | Any, *, call: dict[str, Any] | None = None,
                     actor: str = "pipeline", now: datetime | None = None) -> int:
        """Create or update the ticket of `draft["call_id"]`; returns the ticket id.

        While the ticket is a draft, pipeline values replace earlier ones except fields the
        operator edited (locked_fields). After submission only transcript and the stored draft
        JSON follow the pipeline: the operator's confirmed ticket is not overwritten."""
        draft = _as_dict(draft)
        call_id = draft.get("call_id")
        if not isinstance(call_id, str) or not call_id.strip():
            raise ValueError("draft has no call_id: every draft belongs to a call")
        now = to_local(now) or now_local()
        for attempt in range(2):
            try:
                return self._upsert_draft(draft, call_id, _as_dict(call), actor, now)
            except IntegrityError:
                if attempt:  # two writers raced to create the same call's ticket: the retry updates it
                    raise
        raise AssertionError("unreachable")

    def _upsert_draft(self, draft: dict[str, Any], call_id: str, call: dict[str, Any], actor: str,
                      now: datetime) -> int:
        with self.session() as session, session.begin():
            self._ensure_call(session, call_id, call or ({"timings": draft["timings"]} if draft.get("timings") else None))
            ticket = session.exec(select(Ticket).where(Ticket.call_id == call_id)).first()
            created = ticket is None
            if created:
                ticket = Ticket(call_id=call_id, created_at=now, updated_at=now, state="draft")
                session.add(ticket)
            values = self._draft_values(draft)
            if ticket.state != "draft":
                values = {k: v for k, v in values.items() if k == "transcript"}
            locked = set(ticket.locked_fields or ())
            values = {k: v for k, v in values.items() if k not in locked}
            values["draft"] = json.loads(json.dumps(draft, ensure_ascii=False, default=str))
            changes = self._set(ticket, values)
            if ticket.state == "draft":
                add_changes(changes, self._derive(ticket, keep_route=True))
                add_changes(changes, self._set(ticket, self._provisional_deadlines(ticket, ticket.created_at)))
            if created or changes:
                touch(ticket, now)
            session.flush()
            loud = {k: v for k, v in changes.items() if k not in QUIET_FIELDS}
            if created:
                self._event(session, ticket, actor, "draft", loud, None, now)
            elif loud:
                self._event(session, ticket, actor, "draft_update", loud, None, now)
            return ticket.id

    def _derive(self, ticket: Ticket, *, keep_route: bool, reroute: bool = False) -> dict[str, list[Any]]:
        """place_key, category_l1, and department/co_handler when missing (or `reroute`)."""
        values: dict[str, Any] = {"place_key": place_key_of(ticket.model_dump())}
        cat = category_info(ticket.category, self.taxonomy)
        if cat and not ticket.category_l1:
            values["category_l1"] = cat["l1"]
        if reroute or not (keep_route and ticket.department):
            found = route(ticket.category, ticket.district, ticket.street, taxonomy=None)
            values["department"], values["co_handler"] = found.department, found.co_handler
        return self._set(ticket, values)

    def add_segment(self, call_id: str, segment: dict[str, Any] | Any) -> None:
        """Store one transcript segment (idempotent per (call_id, segment id): a re-send updates it)."""
        seg = _as_dict(segment)
        missing = [k for k in ("id", "start", "end", "text") if seg.get(k) is None]
        if missing:
            raise ValueError(f"segment for call {call_id} lacks {', '.join(missing)}: {seg!r}")
        with self.session() as session, session.begin():
            self._ensure_call(session, call_id)
            session.flush()
            row = session.exec(select(TranscriptSegment).where(TranscriptSegment.call_id == call_id,
                                                               TranscriptSegment.seg_id == int(seg["id"]))).first()
            if row is None:
                row = TranscriptSegment(call_id=call_id, seg_id=int(seg["id"]), start=0, end=0, text="")
                session.add(row)
            row.start, row.end, row.text = float(seg["start"]), float(seg["end"]), str(seg["text"])
            row.speaker = seg.get("speaker")

    def end_call(self, call_id: str, call: dict[str, Any]) -> None:
        """Record what is known at hang-up (duration, timings, ended_at...)."""
        with self.session() as session, session.begin():
            self._ensure_call(session, call_id, _as_dict(call))

    # -- reading --------------------------------------------------------------------------

    def get(self, ticket_id: int) -> dict[str, Any]:
        with self.session() as session:
            return ticket_dict(self._ticket(session, ticket_id))

    def get_by_call(self, call_id: str) -> dict[str, Any] | None:
        with self.session() as session:
            ticket = session.exec(select(Ticket).where(Ticket.call_id == call_id)).first()
            return ticket_dict(ticket) if ticket else None

    def call(self, call_id: str) -> dict[str, Any] | None:
        with self.session() as session:
            row = session.get(Call, call_id)
            return row.model_dump(mode="json") if row else None

    def segments(self, call_id: str) -> list[dict[str, Any]]:
        with self.session() as session:
            rows = session.exec(select(TranscriptSegment).where(TranscriptSegment.call_id == call_id)
                                .order_by(TranscriptSegment.seg_id)).all()
            return [{"id": r.seg_id, "start": r.start, "end": r.end, "text": r.text, "speaker": r.speaker}
                    for r in rows]

    def _filters(self, *, phone: str | None = None, place: str | None = None, category: str | None = None,
                 state: str | Iterable[str] | None = None, district: str | None = None,
                 date_from: date | datetime | str | None = None, date_to: date | datetime | str | None = None,
                 text: str | None = None) -> list[Any]:
        where: list[Any] = []
        if phone:
            where.append(Ticket.phone == _clean_phone(phone))
        if place:
            like = f"%{place.strip()}%"
            where.append(or_(col(Ticket.place_key).like(like), col(Ticket.address).like(like),
                             col(Ticket.landmark).like(like), col(Ticket.road).like(like)))
        if category:
            where.append(Ticket.category == category)
        if state:
            where.append(col(Ticket.state).in_([state] if isinstance(state, str) else list(state)))
        if district:
            where.append(Ticket.district == district)
        if date_from:
            where.append(Ticket.created_at >= day_start(date_from))
        if date_to:
            where.append(Ticket.created_at < day_end(date_to))
        if text:
            like = f"%{text.strip()}%"
            where.append(or_(col(Ticket.summary).like(like), col(Ticket.transcript).like(like),
                             col(Ticket.address).like(like), col(Ticket.company).like(like)))
        return where

    def search(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> list[dict[str, Any]]:
        """Newest first. Filters: phone, place, category, state (one or several), district,
        date_from, date_to (dates, inclusive), text (summary/transcript/address/company)."""
        with self.session() as session:
            stmt = (select(Ticket).where(*self._filters(**filters))
                    .order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc()).offset(offset).limit(limit))
            return [ticket_dict(t) for t in session.exec(stmt).all()]

    def count(self, **filters: Any) -> int:
        with self.session() as session:
            return session.exec(select(func.count()).select_from(Ticket).where(*self._filters(**filters))).one()

    def events(self, ticket_id: int) -> list[dict[str, Any]]:
        with self.session() as session:
            self._ticket(session, ticket_id)
            rows = session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                .order_by(TicketEvent.id)).all()  # insertion order is the history
            return [r.model_dump(mode="json") for r in rows]

    # -- operator edits -------------------------------------------------------------------

    def update(self, ticket_id: int, fields: dict[str, Any], *, actor: str = "operator", note: str | None = None,
               now: datetime | None = None, expect_version: int | None = None) -> dict[str, Any]:
        """Operator edits. Changing category/district/street re-routes (unless department or
        co_handler are given too); edited fields are locked against later pipeline drafts."""
        unknown = sorted(set(fields) - set(EDITABLE))
        if unknown:
            raise ValueError(f"cannot edit {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")
        now = to_local(now) or now_local()
        with self.session() as session, session.begin():
            ticket = self._ticket(session, ticket_id, lock=True, expect_version=expect_version)
            if ticket.state in ("closed", "merged"):
                raise TransitionError(f"ticket {ticket_id} is {ticket.state}: it can no longer be edited")
            values = dict(fields)
            if "category" in values and values["category"] != ticket.category:
                cat = category_info(values["category"], self.taxonomy)
                if cat is None:
                    raise ValueError(f"unknown category {values['category']!r}")
                values.setdefault("category_l1", cat["l1"])
                values.setdefault("urgency", cat["urgency"])
            changes = self._set(ticket, values)
            reroute = any(k in changes for k in ROUTING_INPUTS) and not ({"department", "co_handler"} & set(fields))
            add_changes(changes, self._derive(ticket, keep_route=True, reroute=reroute))
            if ticket.dispatched_at and not ticket.extended and {"appeal_type", "urgency"} & set(changes):
                add_changes(changes, self._set(ticket, self._deadline_values(ticket, ticket.dispatched_at)))
            elif ticket.state in ("draft", "submitted") and {"appeal_type", "urgency"} & set(changes):
                add_changes(changes, self._set(ticket, self._deadline_values(ticket, ticket.created_at)))
            if changes:
                ticket.locked_fields = sorted(set(ticket.locked_fields or ()) | set(fields))
                touch(ticket, now)
                self._event(session, ticket, actor, "update", changes, note, now)
            session.flush()
            return ticket_dict(ticket)


def _clean_phone(phone: str) -> str:
    return "".join(ch for ch in str(phone) if ch.isdigit() or ch == "+")
