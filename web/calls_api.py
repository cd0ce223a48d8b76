"""The call routes of the REST API (under /api): the live calls on this server and one call's
transcript, live or stored."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from web.calls import CallRegistry
from web.resources import Resources


def add_routes(api: APIRouter, res: Resources, registry: CallRegistry) -> None:
    """Onto the app's /api router."""
    @api.get("/calls", tags=["calls"], summary="Live calls on this server")
    def live_calls() -> list[dict[str, Any]]:
        return [
            {"call_id": c.call_id, "owner": c.owner.name, "started_at": c.started_at, "ended": c.ended,
             "connected": c.conn is not None, "segments": len(c.finals), "ticket_id": c.ticket_id}
            for c in registry.calls.values()
        ]

    @api.get("/calls/{call_id}", tags=["calls"], summary="A call's transcript segments and ticket")
    def call_detail(call_id: str) -> dict[str, Any]:
        live = registry.calls.get(call_id)
        ticket = res.store.get_by_call(call_id)
        if live is None and ticket is None:
            raise HTTPException(404, f"no call {call_id}")
        return {
            "call_id": call_id,
            "live": bool(live and not live.ended),
            "ticket_id": ticket["id"] if ticket else None,
            "state": ticket["state"] if ticket else None,
            "segments": res.store.segments(call_id) if ticket else [dict(s) for s in live.finals],
        }
