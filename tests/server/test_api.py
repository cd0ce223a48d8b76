"""REST API, Open311 and auth, in process (Starlette TestClient). No model: the pipeline is a fake
that these tests never call; tickets are made through the real TicketStore."""
from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

PHONE = "13917654321"
NAME = "王先生"


def draft(call_id: str, **extra) -> dict:
    base = {
        "call_id": call_id, "transcript": f"我姓王，电话{PHONE}，营口路588号门口人行道被铁栅栏围住了。",
        "appeal_type": "投诉", "category": "road_obstruction", "district": "杨浦区", "street": "长海路街道",
        "road": "营口路", "address": "杨浦区营口路588号", "caller_name": NAME, "phone": PHONE,
        "summary": f"{NAME}反映杨浦区营口路588号门口人行道被占，电话{PHONE}", "department": None,
    }
    return {**base, **extra}


@pytest.fixture()
def client(make_app, fake_pipeline):
    app = make_app(fake_pipeline)
    with TestClient(app) as c:
        c.hotline_app = app
        yield c


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_api_route_refuses_without_a_valid_token(client):
    # routes from the OpenAPI document (included routers are not flattened into app.routes)
    paths = client.get("/openapi.json").json()["paths"]
    operations = [(m.upper(), p) for p, ops in paths.items() if p.startswith("/api/") for m in ops]
    assert len(operations) >= 30, "ticket, search, job, token and mining routes are all mounted"
    assert any(p.startswith("/api/mining/") for _, p in operations)
    for method, path in operations:
        for headers in ({}, auth("hl_not-a-token"), {"Authorization": "Basic eDp5"}):
            resp = client.request(method, _concrete(path), headers=headers, json={})
            assert resp.status_code == 401, (method, path, resp.status_code)
            assert PHONE not in resp.text


def test_websocket_refuses_without_token(client, fake_pipeline):
    for url in ("/ws/call", "/ws/call?token=nope"):
        with client.websocket_connect(url) as ws:
            msg = ws.receive_json()
            assert msg["type"] == "error" and msg["code"] == "unauthorized"
    assert not fake_pipeline.sessions


def test_ticket_lifecycle_over_rest(client, store, operator_token):
    h = auth(operator_token)
    tid = store.upsert_draft(draft("api-1"))
    other = store.upsert_draft(draft("api-2"))

    got = client.get(f"/api/tickets/{tid}", headers=h).json()
    assert got["state"] == "draft" and got["phone"] == PHONE and "submitted" in got["allowed"]
    listing = client.get("/api/tickets", params={"state": "draft"}, headers=h).json()
    assert listing["total"] == 2 and "transcript" not in listing["items"][0]
    assert client.get("/api/tickets", params={"call_id": "api-1"}, headers=h).json()["items"][0]["id"] == tid
    assert client.get("/api/tickets", params={"text": "营口路"}, headers=h).json()["total"] == 2

    patched = client.patch(f"/api/tickets/{tid}", json={"landmark": "飞跃体育门口"}, headers=h)
    assert patched.status_code == 200 and patched.json()["landmark"] == "飞跃体育门口"
    assert client.patch(f"/api/tickets/{tid}", json={"state": "closed"}, headers=h).status_code == 422

    sub = client.post(f"/api/tickets/{tid}/submit", json={"fields": {"summary": "人行道被铁栅栏围占"}}, headers=h)
    assert sub.status_code == 200 and sub.json()["state"] == "submitted"
    assert sub.json()["summary"] == "人行道被铁栅栏围占"
    # a move the lifecycle does not allow is a conflict with the store's reason
    bad = client.post(f"/api/tickets/{tid}/transition", json={"to": "resolved"}, headers=h)
    assert bad.status_code == 409 and "allowed" in bad.json()["detail"]

    disp = client.post(f"/api/tickets/{tid}/dispatch", json={}, headers=h).json()
    assert disp["state"] == "dispatched" and disp["department"] and disp["resolve_by"]
    assert client.post(f"/api/tickets/{tid}/transition", json={"to": "contacted"}, headers=h).json()["state"] == "contacted"
    assert client.post(f"/api/tickets/{tid}/transition", json={"to": "resolved"}, headers=h).json()["state"] == "resolved"
    assert client.post(f"/api/tickets/{tid}/follow-up", json={"satisfaction": "很好"}, headers=h).status_code == 422
    done = client.post(f"/api/tickets/{tid}/follow-up", json={"satisfaction": "满意"}, headers=h).json()
    assert done["state"] == "closed" and done["satisfaction"] == "满意"

    related = client.get(f"/api/tickets/{other}/related", headers=h).json()
    assert tid in [r["id"] for r in related]
    merged = client.post(f"/api/tickets/{other}/merge", json={"into": tid}, headers=h).json()
    assert merged["state"] == "merged" and merged["merged_into"] == tid
    actions = [e["action"] for e in client.get(f"/api/tickets/{tid}/events", headers=h).json()]
    assert actions[:1] == ["draft"] and {"submit", "dispatch", "contact", "resolve", "follow_up"} <= set(actions)
    assert all(e["actor"] in ("pipeline", "test-operator", "system") for e in client.get(f"/api/tickets/{tid}/events", headers=h).json())
    assert client.get("/api/tickets/99999", headers=h).status_code == 404


def test_returned_needs_a_reason(client, store, operator_token):
    h = auth(operator_token)
    tid = store.upsert_draft(draft("api-ret"))
    client.post(f"/api/tickets/{tid}/submit", json={}, headers=h)
    client.post(f"/api/tickets/{tid}/dispatch", json={}, headers=h)
    assert client.post(f"/api/tickets/{tid}/transition", json={"to": "returned"}, headers=h).status_code == 409
    ok = client.post(f"/api/tickets/{tid}/transition", json={"to": "returned", "note": "非本单位职责"}, headers=h)
    assert ok.status_code == 200 and ok.json()["state"] == "returned"


def test_search_endpoints(client, operator_token):
    h = auth(operator_token)
    kb = client.get("/api/kb", params={"q": "房产证丢了怎么补办"}, headers=h).json()
    assert "kb-0001" in [a["id"] for a in kb]
    assert client.get("/api/kb/kb-0001", headers=h).json()["title"]
    assert client.get("/api/kb/kb-nope", headers=h).status_code == 404
    companies = client.get("/api/companies", params={"q": "飞跃体育"}, headers=h).json()
    assert companies[0]["name"] == "上海飞跃体育发展有限公司"
    places = client.get("/api/places", params={"q": "营口路"}, headers=h).json()
    assert places[0]["hierarchy"][:2] == ["上海市", "杨浦区"] and places[0]["lat"] and places[0]["lon"]
    assert client.get("/api/places", params={"q": ""}, headers=h).status_code == 422


def test_tokens_admin_only(client, operator_token, admin_token):
    assert client.get("/api/tokens", headers=auth(operator_token)).status_code == 403
    made = client.post("/api/tokens", json={"name": "new-op", "role": "operator"}, headers=auth(admin_token))
    assert made.status_code == 201
    new = made.json()["token"]
    assert client.get("/api/me", headers=auth(new)).json() == {"name": "new-op", "role": "operator"}
    names = [t["name"] for t in client.get("/api/tokens", headers=auth(admin_token)).json()]
    assert "new-op" in names and all("token" not in t for t in client.get("/api/tokens", headers=auth(admin_token)).json())
    assert client.delete("/api/tokens/new-op", headers=auth(admin_token)).status_code == 204
    assert client.get("/api/me", headers=auth(new)).status_code == 401


def test_open311_read_and_create(client, store, tokens, operator_token):
    app_key = tokens.create("open311-app", "open311")
    hidden = store.upsert_draft(draft("o311-draft"))  # drafts are not published
    tid = store.upsert_draft(draft("o311-1"))
    store.submit(tid)
    store.dispatch(tid)

    services = client.get("/open311/v2/services.json").json()
    obstruction = next(s for s in services if s["service_code"] == "road_obstruction")
    assert obstruction["group"] == "市容环境" and obstruction["service_name"]
    definition = client.get("/open311/v2/services/road_obstruction.json").json()
    assert definition["service_code"] == "road_obstruction" and definition["attributes"]
    assert client.get("/open311/v2/services/nope.json").status_code == 404

    listing = client.get("/open311/v2/requests.json")
    assert listing.status_code == 200
    ids = [r["service_request_id"] for r in listing.json()]
    assert str(tid) in ids and str(hidden) not in ids
    one = client.get(f"/open311/v2/requests/{tid}.json").json()[0]
    assert one["status"] == "open" and one["agency_responsible"] == store.get(tid)["department"]
    assert one["expected_datetime"] and one["expected_datetime"].startswith(store.get(tid)["resolve_by"][:16])
    assert client.get(f"/open311/v2/requests/{hidden}.json").status_code == 404
    # never the caller's phone or name, nor the transcript, anywhere in public output
    for resp in (listing, client.get(f"/open311/v2/requests/{tid}.json"),
                 client.get("/open311/v2/requests.json", params={"service_request_id": f"{tid},{hidden}"})):
        assert PHONE not in resp.text and NAME not in resp.text and "我姓王" not in resp.text
    assert client.get("/open311/v2/requests.json", params={"service_code": "manhole"}).json() == []
    assert client.get("/open311/v2/requests.json", params={"status": "closed"}).json() == []
    assert str(tid) in [r["service_request_id"] for r in client.get("/open311/v2/requests.json", params={"status": "open"}).json()]
    assert client.get("/open311/v2/requests.json", params={"start_date": "2000-01-01T00:00:00Z", "end_date": "2000-01-02T00:00:00Z"}).json() == []
    assert client.get("/open311/v2/requests.json", params={"start_date": "yesterday"}).status_code == 400

    # create: api_key required
    form = {"service_code": "streetlight", "address_string": "宝山区牡丹江路密山路口", "description": "路灯不亮"}
    refused = client.post("/open311/v2/requests.json", data=form)
    assert refused.status_code == 403 and refused.json()[0]["code"] == 403
    staff = client.post("/open311/v2/requests.json", data={**form, "api_key": operator_token})
    assert staff.status_code == 403, "an operator token is no Open311 api_key"
    assert client.get("/api/tickets", headers=auth(app_key)).status_code == 401, "nor is an api_key a staff token"
    created = client.post("/open311/v2/requests.json", data={**form, "api_key": app_key})
    assert created.status_code == 200
    new_id = int(created.json()[0]["service_request_id"])
    ticket = store.get(new_id)
    assert ticket["state"] == "submitted" and ticket["category"] == "streetlight"
    assert ticket["address"] == "宝山区牡丹江路密山路口"
    as_json = client.post("/open311/v2/requests.json", json={"service_code": "manhole", "lat": 31.25, "long": 121.4,
                                                             "description": "井盖没了"}, headers=auth(app_key))
    assert as_json.status_code == 200
    located = store.get(int(as_json.json()[0]["service_request_id"]))
    assert (located["lat"], located["lon"]) == (31.25, 121.4)
    assert client.post("/open311/v2/requests.json", data={**form, "service_code": "x", "api_key": app_key}).status_code == 400
    assert client.post("/open311/v2/requests.json", data={"service_code": "manhole", "api_key": app_key}).status_code == 400


def test_openapi_schema_validates(client):
    from openapi_spec_validator import validate

    spec = client.get("/openapi.json").json()
    validate(spec)
    paths = spec["paths"]
    for path in ("/api/tickets", "/api/tickets/{ticket_id}/dispatch", "/open311/v2/requests.{fmt}", "/metrics", "/healthz"):
        assert path in paths
    assert "HTTPBearer" in json.dumps(spec["components"]["securitySchemes"])


def test_metrics_and_health(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    text = client.get("/metrics").text
    for name in ("hotline_calls_live 0", "hotline_decode_queue_length", "hotline_http_request_seconds_bucket",
                 "# TYPE hotline_calls_live gauge"):
        assert name in text


def test_console_pages_are_served_locally(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/static/console.html"
    for page in ("/static/console.html", "/static/tickets.html"):
        html = client.get(page).text
        assert "<script" in html and "http://" not in html and "https://" not in html  # no CDN
    docs = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "cdn." not in docs
    for asset in ("/static/console.js", "/static/pcm-worklet.js", "/static/common.js", "/static/style.css",
                  "/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/swagger-ui/swagger-ui.css"):
        assert client.get(asset).status_code == 200


def test_overdue_tickets_are_marked(client, store, operator_token):
    from datetime import datetime

    h = auth(operator_token)
    late = store.upsert_draft(draft("api-late"))
    store.submit(late)
    store.dispatch(late, now=datetime(2025, 3, 3, 9, 0))  # deadlines long past
    fresh = store.upsert_draft(draft("api-fresh"))
    store.submit(fresh)
    store.dispatch(fresh)
    only = client.get("/api/tickets", params={"overdue": "true"}, headers=h).json()
    assert [t["id"] for t in only["items"]] == [late] and set(only["items"][0]["overdue"]) == {"response", "resolve"}
    everything = {t["id"]: t["overdue"] for t in client.get("/api/tickets", headers=h).json()["items"]}
    assert everything[fresh] == [] and everything[late]
    assert client.get(f"/api/tickets/{late}", headers=h).json()["overdue"]
