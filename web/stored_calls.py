"""A call as the ticket store holds it, with or without a ticket: what a resume after a restart
is told (web/calls.py) and what a server taking a call over continues from (web/leases.py)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class StoredCalls:
    store: Callable[[], Any]  # the TicketStore, looked up at each call (the server creates it lazily)

    def ticket_id(self, call_id: str) -> int | None:
        found = self.store().get_by_call(call_id)
        return found["id"] if found else None

    def stored(self, call_id: str) -> dict[str, Any]:
        """What the store holds of a call, with or without a ticket (a takeover continues from it)."""
        ticket = self.store().get_by_call(call_id)
        return {"ticket_id": ticket["id"] if ticket else None, "draft": (ticket or {}).get("draft"),
                "segments": self.store().segments(call_id)}

    def lookup(self, call_id: str) -> dict[str, Any] | None:
        """A call as the store holds it, when it has a ticket (a resume after a restart is told its
        state from this)."""
        stored = self.stored(call_id)
        if stored["ticket_id"] is None:
            return None
        row = self.store().call(call_id) or {}
        return {**stored, "sample_rate": row.get("sample_rate"), "channels": row.get("channels")}
