"""Who a token belongs to, and the admin's token management (REST, under /api; web/auth.py
keeps the tokens)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from web.auth import ROLES, Principal, TokenStore


class TokenBody(BaseModel):
    name: str
    role: str = "operator"


def add_routes(api: APIRouter, tokens: TokenStore, principal: Callable[..., Principal],
               admin: Callable[..., Principal]) -> None:
    """Onto the app's /api router. `principal`, `admin`: the app's dependencies for any valid
    token and for an admin's."""
    @api.get("/me", tags=["auth"], summary="Who the token belongs to")
    def me(who: Principal = Depends(principal)) -> dict[str, Any]:
        return {"name": who.name, "role": who.role}

    @api.get("/tokens", tags=["auth"], summary="List tokens (admin)", dependencies=[Depends(admin)])
    def list_tokens() -> list[dict[str, Any]]:
        return [{"id": t.id, "name": t.name, "role": t.role, "created_at": t.created_at} for t in tokens.list()]

    @api.post("/tokens", tags=["auth"], status_code=201, summary="Create a token (admin); shown once",
              dependencies=[Depends(admin)])
    def create_token(body: TokenBody) -> dict[str, Any]:
        if body.role not in ROLES:
            raise HTTPException(422, f"role must be one of {', '.join(ROLES)}")
        try:
            return {"name": body.name, "role": body.role, "token": tokens.create(body.name, body.role)}
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None

    @api.delete("/tokens/{name}", tags=["auth"], status_code=204, summary="Revoke a token (admin)",
                dependencies=[Depends(admin)])
    def revoke_token(name: str) -> None:
        if not tokens.revoke(name):
            raise HTTPException(404, f"no token named {name}")
