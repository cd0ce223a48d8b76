"""Open311 GeoReport v2 on top of the ticket store: every endpoint in JSON and XML, and discovery.

    GET  /open311/v2/discovery.{json|xml}            (also /open311/discovery.*)
    GET  /open311/v2/services.{fmt}                  service list = taxonomy categories
    GET  /open311/v2/services/{service_code}.{fmt}   service definition
    GET  /open311/v2/requests.{fmt}                  published tickets (filters of the spec)
    GET  /open311/v2/requests/{id}.{fmt}             one
    POST /open311/v2/requests.{fmt}                  create (api_key: a token of role open311)
    GET  /open311/v2/tokens/{token}.{fmt}            the request id of a POST's token

Mapping: service_code = taxonomy category code, group = its l1; service_request_id = ticket id;
status open/closed from the lifecycle state; agency_responsible = department;
expected_datetime = the resolve deadline. Read endpoints are public and never carry the
caller's name, phone or the transcript (descriptions are scrubbed of both as well).
Drafts (not yet confirmed by an operator) and merged duplicates are not published.
`jurisdiction_id` is accepted everywhere; with one configured (HOTLINE_OPEN311_JURISDICTION)
any other value is refused.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.auth import Principal
from web.open311_format import FORMATS, error, respond

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOSED_STATES = {"resolved", "visited", "closed"}
HIDDEN_STATES = {"draft", "merged"}
MAX_REQUESTS = 1000
APPEAL_TYPES = ("咨询", "投诉", "举报", "求助", "建议", "表扬")
SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-04T00:00:00+08:00"  # when this endpoint's behaviour last changed


class Open311Backend(Protocol):
    def categories(self) -> list[dict[str, Any]]: ...
    def list_tickets(self, *, category: str | None, states: list[str] | None, start: datetime | None,
                     end: datetime | None, limit: int) -> list[dict[str, Any]]: ...
    def get_ticket(self, ticket_id: int) -> dict[str, Any] | None: ...
    def ticket_by_token(self, token: str) -> dict[str, Any] | None: ...
    def create_ticket(self, fields: dict[str, Any], principal: Principal) -> tuple[int, str]: ...
    def authenticate(self, api_key: str | None) -> Principal | None: ...


class BadRequest(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


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
        raise BadRequest(400, f"{name} must be an ISO 8601 date-time") from None
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


def service_definition(code: str) -> dict[str, Any]:
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True, "code": "appeal_type", "datatype": "singlevaluelist", "required": False,
                "datatype_description": "诉求类型", "order": 1, "description": "诉求类型",
                "values": [{"key": v, "name": v} for v in APPEAL_TYPES],
            },
            {
                "variable": True, "code": "district", "datatype": "string", "required": False,
                "datatype_description": "如 杨浦区", "order": 2, "description": "所在区",
            },
        ],
    }


def new_request_fields(body: dict[str, Any], known_codes: set[str]) -> dict[str, Any]:
    """A POST's fields (form or JSON) as ticket fields; BadRequest names what is wrong."""
    code = body.get("service_code")
    if not isinstance(code, str) or code not in known_codes:
        raise BadRequest(400, "service_code is missing or unknown (see services.json)")
    lat, lon, address = body.get("lat"), body.get("long"), body.get("address_string")
    try:
        lat = float(lat) if lat not in (None, "") else None
        lon = float(lon) if lon not in (None, "") else None
    except (TypeError, ValueError):
        raise BadRequest(400, "lat and long must be numbers") from None
    if not address and (lat is None or lon is None):
        raise BadRequest(400, "give address_string or lat and long")
    if lat is not None and (lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180)):
        raise BadRequest(400, "lat/long out of range")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise BadRequest(400, "description must be text")
    attrs = body.get("attribute") if isinstance(body.get("attribute"), dict) else {}
    appeal = body.get("attribute[appeal_type]") or attrs.get("appeal_type") or "投诉"
    if appeal not in APPEAL_TYPES:
        raise BadRequest(400, "attribute[appeal_type] is not an appeal type")
    return {
        "category": code, "address": address, "summary": (description or "")[:4000] or None,
        "lat": lat, "lon": lon, "appeal_type": appeal,
        "district": body.get("attribute[district]") or attrs.get("district"),
    }


def build_router(backend: Open311Backend, jurisdiction: str | None = None, base_url: str = "/open311/v2",
                 contact: str = "12345 市民服务热线") -> APIRouter:
    router = APIRouter(tags=["open311"])
    v2 = "/open311/v2"

    def names() -> dict[str, str]:
        return {c["code"]: c["name"] for c in backend.categories()}

    def check(fmt: str, jurisdiction_id: str | None) -> Response | None:
        """The response for a bad format or jurisdiction, or None."""
        if fmt not in FORMATS:
            return error("json", 404, f"format .{fmt} is not served: use .json or .xml")
        if jurisdiction and jurisdiction_id and jurisdiction_id != jurisdiction:
            return error(fmt, 404, f"jurisdiction_id {jurisdiction_id} is not served here (this is {jurisdiction})")
        return None

    def requests_out(fmt: str, items: list[dict[str, Any]]) -> Response:
        return respond(fmt, items, "service_requests", "request")

    def published(ticket: dict[str, Any] | None) -> bool:
        return ticket is not None and ticket.get("state") not in HIDDEN_STATES

    @router.get("/open311/discovery.{fmt}", summary="Discovery (GeoReport v2 endpoints of this server)")
    @router.get(v2 + "/discovery.{fmt}", summary="Discovery (GeoReport v2 endpoints of this server)")
    def discovery(request: Request, fmt: str) -> Response:
        if fmt not in FORMATS:
            return error("json", 404, f"format .{fmt} is not served: use .json or .xml")
        url = str(request.base_url).rstrip("/") + base_url
        return respond(fmt, {
            "changeset": CHANGESET, "contact": contact,
            "key_service": "api_key: `hotline token create --name APP --role open311` on the server",
            "endpoints": [{"specification": SPEC, "url": url, "changeset": CHANGESET, "type": "production",
                           "formats": list(FORMATS.values())}],
        }, "discovery")

    @router.get(v2 + "/services.{fmt}", summary="Service list (taxonomy categories)")
    def services(fmt: str, jurisdiction_id: str | None = None) -> Response:
        refused = check(fmt, jurisdiction_id)
        if refused:
            return refused
        return respond(fmt, [
            {"service_code": c["code"], "service_name": c["name"], "description": c["name"], "metadata": True,
             "type": "realtime", "keywords": c.get("l1") or "", "group": c.get("l1")}
            for c in backend.categories()
        ], "services", "service")

    @router.get(v2 + "/services/{service_code}.{fmt}", summary="Service definition")
    def definition(service_code: str, fmt: str, jurisdiction_id: str | None = None) -> Response:
        refused = check(fmt, jurisdiction_id)
        if refused:
            return refused
        if service_code not in names():
            return error(fmt, 404, f"unknown service_code {service_code}")
        return respond(fmt, service_definition(service_code), "service_definition")

    @router.get(v2 + "/requests.{fmt}", summary="Service requests (published tickets)")
    def requests(fmt: str, service_code: str | None = None, status: str | None = None,
                 start_date: str | None = None, end_date: str | None = None,
                 service_request_id: str | None = None, jurisdiction_id: str | None = None) -> Response:
        refused = check(fmt, jurisdiction_id)
        if refused:
            return refused
        mapping = names()
        if service_request_id:  # overrides every other filter (the spec)
            found = (backend.get_ticket(int(raw)) if raw.strip().isdigit() else None
                     for raw in service_request_id.split(",")[:MAX_REQUESTS])
            return requests_out(fmt, [service_request(t, mapping) for t in found if published(t)])
        if status not in (None, "", "open", "closed"):
            return error(fmt, 400, "status must be open or closed")
        try:
            start, end = _parse_date("start_date", start_date), _parse_date("end_date", end_date)
        except BadRequest as exc:
            return error(fmt, exc.status, exc.description)
        tickets = backend.list_tickets(category=service_code or None, states=None, start=start, end=end,
                                       limit=MAX_REQUESTS)
        items = [service_request(t, mapping) for t in tickets if published(t)]
        return requests_out(fmt, [i for i in items if not status or i["status"] == status])

    @router.get(v2 + "/requests/{request_id}.{fmt}", summary="One service request")
    def request_one(request_id: str, fmt: str, jurisdiction_id: str | None = None) -> Response:
        refused = check(fmt, jurisdiction_id)
        if refused:
            return refused
        ticket = backend.get_ticket(int(request_id)) if request_id.isdigit() else None
        if not published(ticket):
            return error(fmt, 404, f"no service request {request_id}")
        return requests_out(fmt, [service_request(ticket, names())])

    @router.get(v2 + "/tokens/{token}.{fmt}", summary="The service request id of a POST's token")
    def token_lookup(token: str, fmt: str, jurisdiction_id: str | None = None) -> Response:
        refused = check(fmt, jurisdiction_id)
        if refused:
            return refused
        ticket = backend.ticket_by_token(token) if token.isalnum() and len(token) <= 64 else None
        if not published(ticket):
            return error(fmt, 404, f"no service request for token {token}")
        return requests_out(fmt, [{"service_request_id": str(ticket["id"]), "token": token}])

    @router.post(v2 + "/requests.{fmt}", summary="Create a service request (api_key: a token of role open311)")
    async def create(request: Request, fmt: str) -> Response:
        if fmt not in FORMATS:
            return error("json", 404, f"format .{fmt} is not served: use .json or .xml")
        try:
            if "json" in request.headers.get("content-type", ""):
                body = await request.json()
                if not isinstance(body, dict):
                    return error(fmt, 400, "body must be a JSON object")
            else:
                body = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        except (ValueError, json.JSONDecodeError):
            return error(fmt, 400, "body is neither a form nor JSON")
        jurisdiction_id = body.get("jurisdiction_id") or request.query_params.get("jurisdiction_id")
        refused = check(fmt, jurisdiction_id if isinstance(jurisdiction_id, str) else None)
        if refused:
            return refused
        auth = request.headers.get("authorization", "")
        api_key = body.get("api_key") or request.query_params.get("api_key") or (
            auth[7:].strip() if auth.lower().startswith("bearer ") else None)
        principal = backend.authenticate(api_key if isinstance(api_key, str) else None)
        if principal is None:
            return error(fmt, 403, "a valid api_key (a token of role open311) is required")
        try:
            fields = new_request_fields(body, set(names()))
        except BadRequest as exc:
            return error(fmt, exc.status, exc.description)
        ticket_id, token = backend.create_ticket(fields, principal)
        return requests_out(fmt, [{"service_request_id": str(ticket_id), "token": token,
                                   "service_notice": "已受理", "account_id": None}])

    return router
