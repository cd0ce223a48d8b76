"""Open311 GeoReport v2 (JSON) on top of the ticket store.

Mapping: service_code = taxonomy category code, group = its l1; service_request_id = ticket id;
status open/closed from the lifecycle state; agency_responsible = department;
expected_datetime = the resolve deadline. Read endpoints are public and never carry the
caller's name, phone or the transcript (descriptions are scrubbed of both as well).
Drafts (not yet confirmed by an operator) and merged duplicates are not published.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from web.auth import Principal

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOSED_STATES = {"resolved", "visited", "closed"}
HIDDEN_STATES = {"draft", "merged"}
MAX_REQUESTS = 1000


class Open311Backend(Protocol):
    def categories(self) -> list[dict[str, Any]]: ...
    def list_tickets(self, *, category: str | None, states: list[str] | None, start: datetime | None,
                     end: datetime | None, limit: int) -> list[dict[str, Any]]: ...
    def get_ticket(self, ticket_id: int) -> dict[str, Any] | None: ...
    def create_ticket(self, fields: dict[str, Any], principal: Principal) -> int: ...
    def authenticate(self, token: str | None) -> Principal | None: ...


def _error(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:  # the store keeps naive Shanghai wall-clock times
            value = value.replace(tzinfo=SHANGHAI)
        return value.isoformat(timespec="seconds")
    return str(value)


def _parse_date(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(400, f"{name} must be an ISO 8601 date-time") from None
    if parsed.tzinfo is not None:  # compare in the store's naive Shanghai time
        parsed = parsed.astimezone(SHANGHAI).replace(tzinfo=None)
    return parsed


def scrub(text: str | None, ticket: dict[str, Any]) -> str | None:
    """Remove the caller's name and phone number from free text published to the world."""
    if not text:
        return text
    for key in ("phone", "caller_name"):
        value = ticket.get(key)
        if isinstance(value, str) and len(value) >= 2:
            text = text.replace(value, "***")
    return text


def service_request(ticket: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    state = ticket.get("state") or "submitted"
    code = ticket.get("category")
    return {
        "service_request_id": str(ticket.get("id")),
        "status": "closed" if state in CLOSED_STATES else "open",
        "status_notes": state,
        "service_name": names.get(code or "", code),
        "service_code": code,
        "description": scrub(ticket.get("summary"), ticket),
        "agency_responsible": ticket.get("department"),
        "service_notice": None,
        "requested_datetime": _iso(ticket.get("created_at")),
        "updated_datetime": _iso(ticket.get("updated_at")),
        "expected_datetime": _iso(ticket.get("resolve_by")),
        "address": scrub(ticket.get("address"), ticket),
        "address_id": None,
        "zipcode": None,
        "lat": ticket.get("lat"),
        "long": ticket.get("lon"),
        "media_url": None,
    }


def build_router(backend: Open311Backend) -> APIRouter:
    router = APIRouter(prefix="/open311/v2", tags=["open311"])

    def names() -> dict[str, str]:
        return {c["code"]: c["name"] for c in backend.categories()}

    @router.get("/services.json", summary="Service list (taxonomy categories)")
    def services() -> list[dict[str, Any]]:
        return [
            {
                "service_code": c["code"], "service_name": c["name"], "description": c["name"],
                "metadata": True, "type": "realtime", "keywords": c.get("l1") or "", "group": c.get("l1"),
            }
            for c in backend.categories()
        ]

    @router.get("/services/{service_code}.json", summary="Service definition")
    def service_definition(service_code: str):
        found = next((c for c in backend.categories() if c["code"] == service_code), None)
        if found is None:
            return _error(404, f"unknown service_code {service_code}")
        return {
            "service_code": service_code,
            "attributes": [
                {
                    "variable": True, "code": "appeal_type", "datatype": "singlevaluelist", "required": False,
                    "datatype_description": "诉求类型", "order": 1, "description": "诉求类型",
                    "values": [{"key": v, "name": v} for v in ("咨询", "投诉", "举报", "求助", "建议", "表扬")],
                },
                {
                    "variable": True, "code": "district", "datatype": "string", "required": False,
                    "datatype_description": "如 杨浦区", "order": 2, "description": "所在区",
                },
            ],
        }

    @router.get("/requests.json", summary="Service requests (published tickets)")
    def requests(
        service_code: str | None = None,
        status: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        service_request_id: str | None = None,
    ):
        if service_request_id:
            out = []
            for raw in service_request_id.split(",")[:MAX_REQUESTS]:
                ticket = backend.get_ticket(int(raw)) if raw.strip().isdigit() else None
                if ticket and ticket.get("state") not in HIDDEN_STATES:
                    out.append(service_request(ticket, names()))
            return out
        if status not in (None, "", "open", "closed"):
            return _error(400, "status must be open or closed")
        try:
            start, end = _parse_date("start_date", start_date), _parse_date("end_date", end_date)
        except HTTPException as exc:
            return _error(400, exc.detail)
        tickets = backend.list_tickets(category=service_code or None, states=None, start=start, end=end, limit=MAX_REQUESTS)
        mapping = names()
        out = []
        for t in tickets:
            if t.get("state") in HIDDEN_STATES:
                continue
            item = service_request(t, mapping)
            if status and item["status"] != status:
                continue
            out.append(item)
        return out

    @router.get("/requests/{request_id}.json", summary="One service request")
    def request_one(request_id: str):
        ticket = backend.get_ticket(int(request_id)) if request_id.isdigit() else None
        if ticket is None or ticket.get("state") in HIDDEN_STATES:
            return _error(404, f"no service request {request_id}")
        return [service_request(ticket, names())]

    @router.post("/requests.json", summary="Create a service request (api_key = a bearer token)")
    async def create(request: Request):
        ctype = request.headers.get("content-type", "")
        try:
            if "json" in ctype:
                body = await request.json()
                if not isinstance(body, dict):
                    return _error(400, "body must be a JSON object")
            else:
                body = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        except (ValueError, json.JSONDecodeError):
            return _error(400, "body is neither a form nor JSON")
        auth = request.headers.get("authorization", "")
        token = body.get("api_key") or (auth[7:].strip() if auth.lower().startswith("bearer ") else None)
        principal = backend.authenticate(token if isinstance(token, str) else None)
        if principal is None:
            return _error(403, "a valid api_key (bearer token) is required")
        code = body.get("service_code")
        if not isinstance(code, str) or code not in names():
            return _error(400, "service_code is missing or unknown (see services.json)")
        lat, lon = body.get("lat"), body.get("long")
        address = body.get("address_string")
        try:
            lat = float(lat) if lat not in (None, "") else None
            lon = float(lon) if lon not in (None, "") else None
        except (TypeError, ValueError):
            return _error(400, "lat and long must be numbers")
        if not address and (lat is None or lon is None):
            return _error(400, "give address_string or lat and long")
        if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return _error(400, "lat/long out of range")
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            return _error(400, "description must be text")
        attrs = body.get("attribute") if isinstance(body.get("attribute"), dict) else {}
        appeal = body.get("attribute[appeal_type]") or attrs.get("appeal_type") or "投诉"
        if appeal not in ("咨询", "投诉", "举报", "求助", "建议", "表扬"):
            return _error(400, "attribute[appeal_type] is not an appeal type")
        fields = {
            "category": code, "address": address, "summary": (description or "")[:4000] or None,
            "lat": lat, "lon": lon, "appeal_type": appeal,
            "district": body.get("attribute[district]") or attrs.get("district"),
        }
        ticket_id = backend.create_ticket(fields, principal)
        return [{"service_request_id": str(ticket_id), "service_notice": "已受理", "account_id": None}]

    return router
