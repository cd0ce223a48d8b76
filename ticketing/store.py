"""TicketStore: the ticket system a 12345 centre runs on (drafts, lifecycle, deadlines, duplicates).

Every public method opens its own short transaction and commits before returning, so a draft
written during a call is on disk the moment `upsert_draft` returns. Results are plain
JSON-serialisable dicts (datetimes as ISO strings, naive Shanghai time).
"""
from __future__ import annotations

import csv
import dataclasses
import json
import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select

from ticketing import db, lifecycle
from ticketing.clock import now_local, to_local
from ticketing.concurrency import begin_write, check_version, touch
from ticketing.lifecycle import TransitionError
from ticketing.models import Call, Company, Department, KbArticle, Ticket, TicketEvent, TranscriptSegment
from ticketing.places import place_key_of
from ticketing.routing import route
from ticketing.sla import compute_deadlines, extended_resolve_by
from ticketing.taxonomy_data import category_info, load_taxonomy
from ticketing.workdays import CalendarRangeError

log = logging.getLogger(__name__)

# draft dict keys copied one-to-one into ticket columns
DRAFT_COLUMNS = ("appeal_type", "category", "category_l1", "urgency", "district", "street", "road", "address",
                 "landmark", "department", "co_handler", "company", "caller_name", "phone", "summary",
                 "transcript", "kb_ids")
# what the operator may edit by hand (update())
EDITABLE = DRAFT_COLUMNS[:-2] + ("kb_ids", "lat", "lon")
# pipeline updates to these are not worth an event each (they change with every segment)
QUIET_FIELDS = {"transcript", "summary", "kb_ids", "draft"}
PLACE_FIELDS = ("district", "street", "road", "address", "landmark")
ROUTING_INPUTS = ("category", "district", "street")
RELATED_WINDOW = timedelta(days=30)
CONSULTATION = "咨询"


class TicketNotFound(KeyError):
    def __str__(self) -> str:
        return f"no ticket {self.args[0]}"


def _json(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _dump(ticket: Ticket) -> dict[str, Any]:
    data = ticket.model_dump(mode="json")
    data["allowed"] = lifecycle.allowed(ticket.state)
    return data


def _brief(ticket: Ticket) -> dict[str, Any]:
    keys = ("id", "call_id", "state", "created_at", "appeal_type", "category", "district", "address",
            "place_key", "phone", "caller_name", "summary", "department", "warning", "merged_into")
    return {k: _json(getattr(ticket, k)) for k in keys}


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


class TicketStore:
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
                changes[key] = [_json(old), _json(new)]
        return changes

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
                _add_changes(changes, self._derive(ticket, keep_route=True))
                _add_changes(changes, self._set(ticket, self._provisional_deadlines(ticket, ticket.created_at)))
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
            return _dump(self._ticket(session, ticket_id))

    def get_by_call(self, call_id: str) -> dict[str, Any] | None:
        with self.session() as session:
            ticket = session.exec(select(Ticket).where(Ticket.call_id == call_id)).first()
            return _dump(ticket) if ticket else None

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
            where.append(Ticket.created_at >= _day_start(date_from))
        if date_to:
            where.append(Ticket.created_at < _day_end(date_to))
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
            return [_dump(t) for t in session.exec(stmt).all()]

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
            _add_changes(changes, self._derive(ticket, keep_route=True, reroute=reroute))
            if ticket.dispatched_at and not ticket.extended and {"appeal_type", "urgency"} & set(changes):
                _add_changes(changes, self._set(ticket, self._deadline_values(ticket, ticket.dispatched_at)))
            elif ticket.state in ("draft", "submitted") and {"appeal_type", "urgency"} & set(changes):
                _add_changes(changes, self._set(ticket, self._deadline_values(ticket, ticket.created_at)))
            if changes:
                ticket.locked_fields = sorted(set(ticket.locked_fields or ()) | set(fields))
                touch(ticket, now)
                self._event(session, ticket, actor, "update", changes, note, now)
            session.flush()
            return _dump(ticket)

    def _deadline_values(self, ticket: Ticket, start: datetime) -> dict[str, datetime]:
        found = compute_deadlines(ticket.appeal_type, ticket.urgency, start, taxonomy=self.taxonomy)
        return {"response_by": found.response_by, "resolve_by": found.resolve_by}

    # -- lifecycle ------------------------------------------------------------------------

    def _move(self, session: Session, ticket: Ticket, to_state: str, actor: str, note: str | None, now: datetime,
              values: dict[str, Any] | None = None, *, via: str | None = None) -> dict[str, list[Any]]:
        rule = lifecycle.rule(ticket.state, to_state)
        needs = set(rule.get("requires", ()))
        if "note" in needs and not (note and note.strip()):
            raise TransitionError(f"{ticket.state} -> {to_state} ({rule.get('label', rule['action'])}) needs a reason (note)")
        if "consultation" in needs and ticket.appeal_type != CONSULTATION:
            raise TransitionError(f"only a consultation (咨询) can be closed as 直接答复 from {ticket.state}; "
                                  f"ticket {ticket.id} is {ticket.appeal_type or 'of unknown appeal type'}: dispatch it")
        for need, method in (("satisfaction", "follow_up"), ("into", "merge"), ("dissatisfied", "follow_up")):
            if need in needs and via != method:
                raise TransitionError(f"{ticket.state} -> {to_state} goes through {method}() "
                                      f"(`hotline tickets {'visit' if method == 'follow_up' else method}`)")
        old_state = ticket.state
        changes = self._set(ticket, {"state": to_state, **(values or {})})
        touch(ticket, now)
        self._event(session, ticket, actor, rule["action"], changes, note, now)
        log.debug("ticket %s: %s -> %s by %s", ticket.id, old_state, to_state, actor)
        return changes

    def transition(self, ticket_id: int, to_state: str, actor: str = "operator", note: str | None = None, *,
                   now: datetime | None = None, expect_version: int | None = None) -> dict[str, Any]:
        """Generic state change along the lifecycle table; raises TransitionError when not allowed
        (ConflictError when `expect_version` is given and the ticket changed since)."""
        if to_state == "dispatched":
            return self.dispatch(ticket_id, actor=actor, note=note, now=now, expect_version=expect_version)
        now = to_local(now) or now_local()
        with self.session() as session, session.begin():
            ticket = self._ticket(session, ticket_id, lock=True, expect_version=expect_version)
            values: dict[str, Any] = {}
            if to_state == "contacted":
                values["contacted_at"] = now
            elif to_state == "resolved":
                values["resolved_at"] = now
            elif to_state == "closed":
                values["closed_at"] = now
            self._move(session, ticket, to_state, actor, note, now, values)
            session.flush()
            return _dump(ticket)

    def submit(self, ticket_id: int, actor: str = "operator", note: str | None = None, *,
               now: datetime | None = None, expect_version: int | None = None) -> dict[str, Any]:
        return self.transition(ticket_id, "submitted", actor, note, now=now, expect_version=expect_version)

    def direct_answer(self, ticket_id: int, actor: str = "operator", note: str | None = None, *,
                      now: datetime | None = None, expect_version: int | None = None) -> dict[str, Any]:
        """直接答复: a consultation answered on the call is closed without dispatch."""
        return self.transition(ticket_id, "closed", actor, note or "直接答复", now=now, expect_version=expect_version)

    def dispatch(self, ticket_id: int, actor: str = "operator", note: str | None = None, *,
                 department: str | None = None, co_handler: str | None = None,
                 now: datetime | None = None, expect_version: int | None = None) -> dict[str, Any]:
        """Send to the department (from submitted, or again after 退单); the time limits start now."""
        now = to_local(now) or now_local()
        with self.session() as session, session.begin():
            ticket = self._ticket(session, ticket_id, lock=True, expect_version=expect_version)
            lifecycle.rule(ticket.state, "dispatched")  # fail fast, before anything is computed
            values: dict[str, Any] = {"dispatched_at": now, "contacted_at": None}
            if department:
                values["department"] = department
                values["co_handler"] = co_handler
            dept = values.get("department", ticket.department)
            if not dept:
                raise TransitionError(f"ticket {ticket_id} has no department: set one (category and district, "
                                      f"or --department) before dispatching")
            # a (re-)dispatch starts the department's clock afresh; CalendarRangeError leaves all unchanged
            values.update(self._deadline_values(ticket, now))
            values.update({"extended": False, "extension_reason": None})
            self._ensure_department(session, dept, ticket.district)
            self._move(session, ticket, "dispatched", actor, note, now, values)
            session.flush()
            return _dump(ticket)

    def follow_up(self, ticket_id: int, satisfaction: str, actor: str = "operator", note: str | None = None, *,
                  close: bool = True, now: datetime | None = None,
                  expect_version: int | None = None) -> dict[str, Any]:
        """回访. 满意/基本满意: visited (then closed unless close=False). 不满意: the ticket is
        reopened as a 预警工单 (warning), round + 1, dispatched again to the same department."""
        allowed_values = lifecycle.satisfaction_values()
        if satisfaction not in allowed_values:
            raise ValueError(f"satisfaction must be one of {', '.join(allowed_values)}, got {satisfaction!r}")
        now = to_local(now) or now_local()
        with self.session() as session, session.begin():
            ticket = self._ticket(session, ticket_id, lock=True, expect_version=expect_version)
            self._move(session, ticket, "visited", actor, note, now, {"satisfaction": satisfaction}, via="follow_up")
            if satisfaction == lifecycle.lifecycle()["reopen_on"]:
                values: dict[str, Any] = {"warning": True, "round": ticket.round + 1, "dispatched_at": now,
                                          "contacted_at": None, "resolved_at": None, "supervised": False,
                                          "extended": False, "extension_reason": None}
                values.update(self._deadline_values(ticket, now))
                self._move(session, ticket, "dispatched", actor, f"预警工单 第{ticket.round + 1}轮: 回访不满意",
                           now, values, via="follow_up")
            elif close:
                self._move(session, ticket, "closed", actor, None, now, {"closed_at": now})
            session.flush()
            return _dump(ticket)

    def extend(self, ticket_id: int, reason: str, actor: str = "operator", *,
               now: datetime | None = None, expect_version: int | None = None) -> dict[str, Any]:
        """Extend resolution once to `sla.extension.max_resolve_working_days` after dispatch."""
        if not reason or not reason.strip():
            raise ValueError("an extension needs a reason")
        now = to_local(now) or now_local()
        with self.session() as session, session.begin():
            ticket = self._ticket(session, ticket_id, lock=True, expect_version=expect_version)
            if ticket.state not in lifecycle.clock_states():
                raise TransitionError(f"ticket {ticket_id} is {ticket.state}: only a dispatched, contacted or "
                                      f"in-progress ticket can be extended")
            if ticket.extended:
                raise TransitionError(f"ticket {ticket_id} was already extended once "
                                      f"({ticket.extension_reason}); a second extension is refused")
            new_by = extended_resolve_by(ticket.dispatched_at or now, taxonomy=self.taxonomy)
            changes = self._set(ticket, {"extended": True, "extension_reason": reason.strip(),
                                         "resolve_by": max(new_by, ticket.resolve_by or new_by)})
            touch(ticket, now)
            self._event(session, ticket, actor, "extend", changes, reason.strip(), now)
            session.flush()
            return _dump(ticket)

    def merge(self, ticket_id: int, into_id: int, actor: str = "operator", note: str | None = None, *,
              now: datetime | None = None, expect_version: int | None = None) -> dict[str, Any]:
        """Mark `ticket_id` a duplicate of `into_id` (state merged, merged_into)."""
        if ticket_id == into_id:
            raise TransitionError("cannot merge a ticket into itself")
        now = to_local(now) or now_local()
        with self.session() as session, session.begin():
            # both rows locked, lower id first: two opposite merges at once cannot deadlock
            rows = {i: self._ticket(session, i, lock=True) for i in sorted((ticket_id, into_id))}
            ticket, target = rows[ticket_id], rows[into_id]
            check_version(ticket, expect_version)
            if target.state == "merged":
                raise TransitionError(f"ticket {into_id} is itself merged into {target.merged_into}: merge into that one")
            self._move(session, ticket, "merged", actor, note, now, {"merged_into": into_id}, via="merge")
            self._event(session, target, actor, "merged_from", {"merged_from": [None, ticket_id]}, note, now)
            touch(target, now)
            session.flush()
            return _dump(ticket)

    # -- duplicates -----------------------------------------------------------------------

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
            return [{**_brief(t), "reasons": reasons} for t, reasons in ordered]

    def place_counts(self, *, category: str | None = None, since: date | datetime | str | None = None,
                     min_count: int = 2, limit: int = 50) -> list[dict[str, Any]]:
        """Repeated complaints: tickets per (place_key, category), merged ones included (each is a call)."""
        with self.session() as session:
            stmt = select(Ticket.place_key, Ticket.category, func.count().label("n"),
                          func.max(Ticket.created_at).label("last")).where(col(Ticket.place_key).is_not(None))
            if category:
                stmt = stmt.where(Ticket.category == category)
            if since:
                stmt = stmt.where(Ticket.created_at >= _day_start(since))
            stmt = (stmt.group_by(Ticket.place_key, Ticket.category).having(func.count() >= min_count)
                    .order_by(sa.desc("n"), sa.desc("last")).limit(limit))
            return [{"place_key": p, "category": c, "count": n, "last": _json(last)}
                    for p, c, n, last in session.exec(stmt).all()]

    # -- time limits ----------------------------------------------------------------------

    def overdue(self, now: datetime | None = None, *, limit: int | None = None,
                offset: int = 0) -> list[dict[str, Any]]:
        """Tickets with the department whose first contact or resolution is late, with `overdue`
        = ["response"] and/or ["resolve"]; most overdue first."""
        now = to_local(now) or now_local()
        with self.session() as session:
            return [{**_dump(t), "overdue": kinds} for t, kinds in self._overdue(session, now, limit, offset)]

    def overdue_map(self, now: datetime | None = None) -> dict[int, list[str]]:
        """{ticket id: overdue kinds} for all overdue tickets; reads four columns only (cheap for list views)."""
        now = to_local(now) or now_local()
        stmt = (sa.select(Ticket.id, Ticket.state, Ticket.response_by, Ticket.resolve_by)
                .where(*self._overdue_where(now)))
        with self.session() as session:
            rows = session.execute(stmt).all()
        return {tid: _overdue_kinds(state, response_by, resolve_by, now) for tid, state, response_by, resolve_by in rows}

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
            yield ticket, _overdue_kinds(ticket.state, ticket.response_by, ticket.resolve_by, now)

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
                flagged.append({**_brief(ticket), "overdue": kinds})
        return flagged

    # -- reference data -------------------------------------------------------------------

    def _ensure_department(self, session: Session, name: str, district: str | None) -> None:
        if session.exec(select(Department).where(Department.name == name)).first() is None:
            kind = name[len(district):] if district and name.startswith(district) else name
            try:  # in a savepoint: another transaction may add the same department at the same moment
                with session.begin_nested():
                    session.add(Department(name=name, kind=kind,
                                           district=district if district and name.startswith(district) else None))
            except IntegrityError:
                pass

    def init_reference_data(self, companies_path: str | Path | None = None,
                            kb_path: str | Path | None = None) -> dict[str, int]:
        """Load (or refresh) the company directory, KB articles and district departments."""
        from config import Settings

        settings = Settings()
        companies_path = Path(companies_path or settings.companies_path)
        kb_path = Path(kb_path or settings.kb_path)
        with open(companies_path, encoding="utf-8", newline="") as fh:
            companies = [row for row in csv.DictReader(fh) if row.get("credit_code")]
        articles = []
        with open(kb_path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        articles.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{kb_path}:{n}: not JSON ({exc})") from exc
        districts = sorted({row["district"] for row in companies if row.get("district")})
        with self.session() as session, session.begin():
            for row in companies:
                session.merge(Company(**{k: (row.get(k) or None) for k in
                                         ("credit_code", "name", "short_name", "district", "address", "industry")}))
            for art in articles:
                session.merge(KbArticle(id=art["id"], title=art["title"], keywords=art.get("keywords"),
                                        questions=art.get("questions"), answer=art["answer"],
                                        department=art.get("department"), updated=art.get("updated"),
                                        demo=bool(art.get("demo"))))
            names = set()
            for cat in self.taxonomy["categories"]:
                for template in (cat["department"], cat.get("co_handler")):
                    if not template or "{street}" in template:
                        continue
                    for district in (districts if "{district}" in template else [None]):
                        names.add((template.replace("{district}", district or ""), district))
            for name, district in sorted(names):
                self._ensure_department(session, name, district)
        with self.session() as session:
            n_dept = session.exec(select(func.count()).select_from(Department)).one()
        return {"companies": len(companies), "kb_articles": len(articles), "departments": n_dept}

    def departments(self) -> list[dict[str, Any]]:
        with self.session() as session:
            return [d.model_dump() for d in session.exec(select(Department).order_by(Department.name)).all()]


def _add_changes(changes: dict[str, list[Any]], more: dict[str, list[Any]]) -> None:
    """Fold later {field: [old, new]} into `changes`: the first old, the last new; a field set
    back to where it started (a draft's department None, then routed again) is no change."""
    for key, (old, new) in more.items():
        first = changes[key][0] if key in changes else old
        if first == new:
            changes.pop(key, None)
        else:
            changes[key] = [first, new]


def _overdue_kinds(state: str, response_by: datetime | None, resolve_by: datetime | None, now: datetime) -> list[str]:
    kinds = []
    if state == "dispatched" and response_by and response_by < now:
        kinds.append("response")
    if resolve_by and resolve_by < now:
        kinds.append("resolve")
    return kinds


def _clean_phone(phone: str) -> str:
    return "".join(ch for ch in str(phone) if ch.isdigit() or ch == "+")


def _day_start(value: date | datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return to_local(value)
    return datetime.combine(value, datetime.min.time())


def _day_end(value: date | datetime | str) -> datetime:
    """Exclusive upper bound: a plain date includes that whole day."""
    if isinstance(value, str) and "T" not in value and " " not in value:
        value = date.fromisoformat(value)
    if isinstance(value, datetime) or isinstance(value, str):
        return _day_start(value)
    return datetime.combine(value + timedelta(days=1), datetime.min.time())
