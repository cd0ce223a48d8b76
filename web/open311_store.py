"""The ticket store behind web/open311.py: what GeoReport reads and creates, and who may create.

A request created through Open311 is a ticket like any other, confirmed at once (`submitted`)
with call id `open311-<token>`: that token is what GET tokens/{token} resolves.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from web.auth import OPEN311_ROLES, Principal, TokenStore

TOKEN_PREFIX = "open311-"


class StoreBackend:
    """Adapts `ticketing.TicketStore` (reached lazily: the app opens it on first use) to Open311."""

    def __init__(self, store: Callable[[], Any], categories: Callable[[], list[dict[str, Any]]],
                 tokens: TokenStore) -> None:
        self._store = store
        self._categories = categories
        self.tokens = tokens

    def categories(self) -> list[dict[str, Any]]:
        return self._categories()

    def list_tickets(self, *, category: str | None, states: list[str] | None, start: datetime | None,
                     end: datetime | None, limit: int) -> list[dict[str, Any]]:
        filters: dict[str, Any] = {"category": category, "state": states, "date_from": start, "date_to": end}
        return self._store().search(limit=limit, **{k: v for k, v in filters.items() if v})

    def get_ticket(self, ticket_id: int) -> dict[str, Any] | None:
        from ticketing import TicketNotFound

        try:
            return self._store().get(ticket_id)
        except TicketNotFound:
            return None

    def ticket_by_token(self, token: str) -> dict[str, Any] | None:
        return self._store().get_by_call(TOKEN_PREFIX + token)

    def create_ticket(self, fields: dict[str, Any], principal: Principal) -> tuple[int, str]:
        """Store and submit the request; (ticket id, token)."""
        store = self._store()
        actor = f"open311:{principal.name}"
        token = uuid.uuid4().hex[:12]
        draft = {"call_id": TOKEN_PREFIX + token, "transcript": "",
                 **{k: v for k, v in fields.items() if k not in ("lat", "lon")}}
        if fields.get("lat") is not None:
            draft["location"] = {"lat": fields["lat"], "lon": fields["lon"]}
        ticket_id = store.upsert_draft(draft, actor=actor)
        if fields.get("lat") is not None:
            store.update(ticket_id, {"lat": fields["lat"], "lon": fields["lon"]}, actor=actor)
        store.submit(ticket_id, actor=actor, note="Open311")
        return ticket_id, token

    def authenticate(self, api_key: str | None) -> Principal | None:
        """An Open311 api_key: a token of role `open311` (`hotline token create --role open311`)."""
        return self.tokens.verify(api_key, roles=OPEN311_ROLES)
