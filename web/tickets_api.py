"""The ticket routes of the REST API (docs/server.md): list and search, one ticket, the
operator's edits and every lifecycle action. Mounted under /api behind the bearer token."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from ticketing import TransitionError
from web.auth import Principal
from web.resources import Resources

LIST_OMIT = ("draft", "transcript")  # heavy fields left out of ticket listings


class TicketFields(BaseModel):
    """Any editable ticket fields (see `ticketing.store.EDITABLE`)."""

    model_config = {"extra": "allow"}


class SubmitBody(BaseModel):
    fields: dict[str, Any] = Field(default_factory=dict, description="operator edits applied before submitting")
    note: str | None = None


class DispatchBody(BaseModel):
    department: str | None = None
    co_handler: str | None = None
    note: str | None = None


class TransitionBody(BaseModel):
    to: str = Field(description="target lifecycle state, e.g. contacted, in_progress, resolved, returned, closed")
    note: str | None = None


class FollowUpBody(BaseModel):
    satisfaction: str = Field(description="满意 / 基本满意 / 不满意")
    note: str | None = None
    close: bool = True


class MergeBody(BaseModel):
    into: int
    note: str | None = None


class ExtendBody(BaseModel):
    reason: str


def add_routes(api: APIRouter, res: Resources, principal: Callable[..., Principal],
               seen_version: Callable[..., int | None]) -> None:
    """Onto the app's /api router (a route's path is then the whole path, as metrics label it).
    `principal`, `seen_version`: the app's dependencies for the caller and the If-Match version."""
    @api.get("/tickets", tags=["tickets"], summary="List and search tickets (newest first)")
    def list_tickets(
        state: str | None = Query(None, description="one state or several, comma-separated"),
        district: str | None = None, category: str | None = None, phone: str | None = None,
        place: str | None = None, text: str | None = Query(None, description="summary/transcript/address/company"),
        date_from: str | None = None, date_to: str | None = None,
        overdue: bool = Query(False, description="only tickets past a deadline"),
        call_id: str | None = None,
        limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        late = res.store.overdue_map()
        if call_id:
            found = res.store.get_by_call(call_id)
            items, total = ([found] if found else []), (1 if found else 0)
        elif overdue:
            items = [t for t in res.store.overdue() if _matches(t, state, district, category)]
            total, items = len(items), items[offset: offset + limit]
        else:
            filters = dict(state=state.split(",") if state else None, district=district, category=category,
                           phone=phone, place=place, text=text, date_from=date_from, date_to=date_to)
            filters = {k: v for k, v in filters.items() if v}
            try:
                items = res.store.search(limit=limit, offset=offset, **filters)
                total = res.store.count(**filters)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
        out = []
        for t in items:
            t = _public_ticket(t)
            t["overdue"] = late.get(t["id"], [])
            out.append(t)
        return {"total": total, "limit": limit, "offset": offset, "items": out}

    @api.get("/tickets/{ticket_id}", tags=["tickets"], summary="One ticket, with its draft and transcript")
    def get_ticket(ticket_id: int) -> dict[str, Any]:
        ticket = res.store.get(ticket_id)
        ticket["overdue"] = res.store.overdue_map().get(ticket_id, [])
        if ticket.get("call_id"):
            ticket["segments"] = res.store.segments(ticket["call_id"])
        return ticket

    @api.patch("/tickets/{ticket_id}", tags=["tickets"], summary="Edit fields (locks them against the pipeline)")
    def update_ticket(ticket_id: int, body: TicketFields, who: Principal = Depends(principal),
                      version: int | None = Depends(seen_version)) -> dict[str, Any]:
        fields = body.model_dump()
        if not fields:
            raise HTTPException(422, "no fields to change")
        with _bad_input_is_422():
            return res.store.update(ticket_id, fields, actor=who.name, expect_version=version)

    @api.post("/tickets/{ticket_id}/submit", tags=["tickets"], summary="Operator confirms the draft")
    def submit_ticket(ticket_id: int, body: SubmitBody = Body(default_factory=SubmitBody),
                      who: Principal = Depends(principal), version: int | None = Depends(seen_version)) -> dict[str, Any]:
        if body.fields:
            with _bad_input_is_422():
                res.store.update(ticket_id, body.fields, actor=who.name, expect_version=version)
                version = None  # checked by the edit; the submit follows it
        return res.store.submit(ticket_id, actor=who.name, note=body.note, expect_version=version)

    @api.post("/tickets/{ticket_id}/dispatch", tags=["tickets"], summary="Send to the department (deadlines start)")
    def dispatch_ticket(ticket_id: int, body: DispatchBody = Body(default_factory=DispatchBody),
                        who: Principal = Depends(principal), version: int | None = Depends(seen_version)) -> dict[str, Any]:
        return res.store.dispatch(ticket_id, actor=who.name, note=body.note, department=body.department,
                                  expect_version=version,
                                  co_handler=body.co_handler)

    @api.post("/tickets/{ticket_id}/direct-answer", tags=["tickets"], summary="直接答复: close a consultation")
    def direct_answer(ticket_id: int, body: SubmitBody = Body(default_factory=SubmitBody),
                      who: Principal = Depends(principal), version: int | None = Depends(seen_version)) -> dict[str, Any]:
        return res.store.direct_answer(ticket_id, actor=who.name, note=body.note, expect_version=version)

    @api.post("/tickets/{ticket_id}/transition", tags=["tickets"],
              summary="Lifecycle move: contacted, in_progress, resolved, returned (needs note), closed")
    def transition_ticket(ticket_id: int, body: TransitionBody, who: Principal = Depends(principal),
                          version: int | None = Depends(seen_version)) -> dict[str, Any]:
        return res.store.transition(ticket_id, body.to, actor=who.name, note=body.note, expect_version=version)

    @api.post("/tickets/{ticket_id}/follow-up", tags=["tickets"], summary="回访 with satisfaction")
    def follow_up(ticket_id: int, body: FollowUpBody, who: Principal = Depends(principal),
                  version: int | None = Depends(seen_version)) -> dict[str, Any]:
        with _bad_input_is_422():
            return res.store.follow_up(ticket_id, body.satisfaction, actor=who.name, note=body.note, close=body.close,
                                       expect_version=version)

    @api.post("/tickets/{ticket_id}/extend", tags=["tickets"], summary="Extend the resolve deadline once")
    def extend(ticket_id: int, body: ExtendBody, who: Principal = Depends(principal),
               version: int | None = Depends(seen_version)) -> dict[str, Any]:
        with _bad_input_is_422():
            return res.store.extend(ticket_id, body.reason, actor=who.name, expect_version=version)

    @api.post("/tickets/{ticket_id}/merge", tags=["tickets"], summary="Mark as duplicate of another ticket")
    def merge(ticket_id: int, body: MergeBody, who: Principal = Depends(principal),
              version: int | None = Depends(seen_version)) -> dict[str, Any]:
        return res.store.merge(ticket_id, body.into, actor=who.name, note=body.note, expect_version=version)

    @api.get("/tickets/{ticket_id}/related", tags=["tickets"], summary="Possible duplicates and same-caller tickets")
    def related(ticket_id: int) -> list[dict[str, Any]]:
        return res.store.related(ticket_id)

    @api.get("/tickets/{ticket_id}/events", tags=["tickets"], summary="The ticket's event log")
    def events(ticket_id: int) -> list[dict[str, Any]]:
        return res.store.events(ticket_id)


def _public_ticket(ticket: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ticket.items() if k not in LIST_OMIT}


def _matches(t: dict[str, Any], state: str | None, district: str | None, category: str | None) -> bool:
    return ((not state or t.get("state") in state.split(",")) and (not district or t.get("district") == district)
            and (not category or t.get("category") == category))


@contextmanager
def _bad_input_is_422() -> Iterator[None]:
    """A ValueError from the store (a field or value it does not take) is 422 with its message;
    a TransitionError (a ValueError too) goes on to the app's 409 handler."""
    try:
        yield
    except ValueError as exc:
        if isinstance(exc, TransitionError):
            raise
        raise HTTPException(422, str(exc)) from None
