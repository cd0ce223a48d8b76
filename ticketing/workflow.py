"""The ticket's moves along the lifecycle (docs/ticketing.md): submit, dispatch, the department's
steps, 回访 (follow-up), extension and merge. Each locks the ticket row, checks the lifecycle
table (ticketing/data/lifecycle.json) and logs an event; TicketStore inherits them.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from ticketing import lifecycle
from ticketing.clock import now_local, to_local
from ticketing.concurrency import check_version, touch
from ticketing.lifecycle import TransitionError
from ticketing.models import Ticket
from ticketing.reference import ensure_department
from ticketing.sla import extended_resolve_by
from ticketing.store_base import StoreBase, ticket_dict

log = logging.getLogger("ticketing.store")  # one log for all of TicketStore

CONSULTATION = "咨询"


class Workflow(StoreBase):
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
            return ticket_dict(ticket)

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
            ensure_department(session, dept, ticket.district)
            self._move(session, ticket, "dispatched", actor, note, now, values)
            session.flush()
            return ticket_dict(ticket)

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
            return ticket_dict(ticket)

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
            return ticket_dict(ticket)

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
            return ticket_dict(ticket)
