"""API tokens: bearer tokens for the REST API, the call websockets and the console login.

Only a SHA-256 of each token is stored (tokens are 256-bit random, so a fast hash is enough);
the plain token is shown once, when it is created. The `api_token` table is created by the
ticketing migrations (TicketStore); names are unique, revoking a token deletes its row.
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from ticketing.models import ApiToken

ROLES = ("admin", "operator", "open311")
STAFF_ROLES = ("admin", "operator")  # the console, the REST API and the call sockets
OPEN311_ROLES = ("open311",)  # an application's api_key for Open311 POST requests, and nothing else
TOKEN_PREFIX = "hl_"
# The table belongs to the ticketing migrations (ticketing.models.ApiToken); this module owns the logic.
api_token = ApiToken.__table__


@dataclass(frozen=True)
class Principal:
    """Who is calling: the name and role of the token used."""

    token_id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    role: str
    created_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Create, check, list and revoke API tokens in the ticket database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def for_store(cls, store: object) -> "TokenStore":
        """Share the ticket store's engine (its migrations made the table)."""
        return cls(getattr(store, "engine"))

    def create(self, name: str, role: str = "operator") -> str:
        """Store a new token and return it in plain text (the only time it is visible)."""
        name = (name or "").strip()
        if not name or len(name) > 64:
            raise ValueError("a token needs a name of 1 to 64 characters")
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            if conn.execute(select(api_token.c.id).where(api_token.c.name == name)).first() is not None:
                raise ValueError(f"a token named {name!r} exists; revoke it first or pick another name")
            conn.execute(
                api_token.insert().values(
                    name=name, role=role, token_hash=hash_token(token), created_at=datetime.now()
                )
            )
        return token

    def verify(self, token: str | None, roles: tuple[str, ...] = STAFF_ROLES) -> Principal | None:
        """The principal for a valid token of one of `roles`; None otherwise."""
        if not token or not isinstance(token, str) or len(token) > 200:
            return None
        digest = hash_token(token.strip())
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_token.c.id, api_token.c.name, api_token.c.role).where(api_token.c.token_hash == digest)
            ).first()
        if row is None or row.role not in roles:
            return None
        return Principal(token_id=row.id, name=row.name, role=row.role)

    def list(self) -> list[TokenInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_token).order_by(api_token.c.id)).all()
        return [TokenInfo(r.id, r.name, r.role, r.created_at) for r in rows]

    def revoke(self, name: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(delete(api_token).where(api_token.c.name == name))
        return bool(result.rowcount)

    def count(self, role: str | None = None) -> int:
        return sum(1 for t in self.list() if role is None or t.role == role)


def websocket_token(headers: Mapping[str, str], query_token: str | None) -> str | None:
    """The token of a websocket: `?token=` (browsers cannot set headers) or `Authorization: Bearer`
    (PBX clients such as Asterisk send a header)."""
    if query_token:
        return query_token
    scheme, _, value = (headers.get("authorization") or "").strip().partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


_TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"']+")


class RedactTokens(logging.Filter):
    """Keep `?token=` out of server logs (uvicorn logs websocket paths with their query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "token=" in a for a in record.args):
            record.args = tuple(_TOKEN_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = _TOKEN_IN_URL.sub(r"\1***", record.msg)
        return True


def install_log_redaction(names: tuple[str, ...] = ("uvicorn.error", "uvicorn.access", "uvicorn")) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
