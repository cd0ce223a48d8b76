"""Open311 GeoReport v2 against a real uvicorn server: the real PyPI `georeport` client reads
every GET endpoint in JSON and in XML; httpx checks the XML documents, discovery, POST with an
open311 api_key, tokens, jurisdiction_id and that public reads carry no personal data."""
from __future__ import annotations

from xml.etree import ElementTree as ET

import httpx
import pytest

PHONE, NAME = "13917654321", "王先生"
JURISDICTION = "shanghai.12345"


@pytest.fixture()
def open311(settings, store, tokens, make_app, fake_pipeline, live_server):
    settings.open311_jurisdiction = JURISDICTION
    draft = {"call_id": "o311-a", "transcript": f"我姓王，电话{PHONE}，营口路人行道被占", "appeal_type": "投诉",
             "category": "road_obstruction", "district": "杨浦区", "address": "杨浦区营口路588号",
             "summary": f"{NAME}反映营口路人行道被占，回电{PHONE}", "caller_name": NAME, "phone": PHONE}
    published = store.upsert_draft(draft)
    store.submit(published)
    store.dispatch(published)
    hidden = store.upsert_draft({**draft, "call_id": "o311-draft"})  # a draft: never published
    server = live_server(make_app(fake_pipeline))
    return {"base": f"{server.url}/open311/v2", "root": server.url, "published": published, "hidden": hidden,
            "key": tokens.create("open311-app", "open311"), "store": store}


def _as_list(value):
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_reads_every_endpoint(open311, fmt):
    from georeport import GeoReport

    client = GeoReport(open311["base"], jurisdiction=JURISDICTION, output_format=fmt)
    services = _as_list(client.get_service_list())
    codes = [s["service_code"] for s in services]
    assert "road_obstruction" in codes and len(codes) == len(set(codes)) > 10
    definition = client.get_service_definition("road_obstruction")
    assert definition["service_code"] == "road_obstruction"
    attrs = _as_list(definition["attributes"]["attribute"] if fmt == "xml" else definition["attributes"])
    assert attrs[0]["code"] == "appeal_type"
    values = _as_list(attrs[0]["values"]["value"] if fmt == "xml" else attrs[0]["values"])
    assert [v["key"] for v in values][:2] == ["咨询", "投诉"]

    listed = _as_list(client.get_service_requests())
    assert [r["service_request_id"] for r in listed] == [str(open311["published"])]
    one = client.get_service_request(str(open311["published"]))
    assert one["service_code"] == "road_obstruction" and one["status"] == "open" and one["address"]
    if fmt == "json":  # the client cannot read an empty XML list (test below: <service_requests/>)
        assert client.get_service_requests(service_code="manhole") == []
    by_id = _as_list(client.get_service_requests(service_request_id=f"{open311['published']},{open311['hidden']}"))
    assert [r["service_request_id"] for r in by_id] == [str(open311["published"])]


def test_xml_documents_discovery_and_no_personal_data(open311):
    base, pid = open311["base"], open311["published"]
    for path in ("/services.xml", "/services/road_obstruction.xml", "/requests.xml", f"/requests/{pid}.xml"):
        response = httpx.get(base + path, timeout=30)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
        root = ET.fromstring(response.content)
        assert root.tag == {"/services.xml": "services", "/services/road_obstruction.xml": "service_definition"}.get(
            path, "service_requests")
        assert PHONE not in response.text and NAME not in response.text and "我姓王" not in response.text
    request = ET.fromstring(httpx.get(f"{base}/requests/{pid}.xml", timeout=30).content).find("request")
    assert request.findtext("service_request_id") == str(pid) and request.findtext("status") == "open"
    assert "***" in request.findtext("description")  # the name and phone scrubbed out of the summary
    assert request.find("media_url") is not None and request.find("media_url").text is None  # empty element
    assert PHONE not in httpx.get(f"{base}/requests.json", timeout=30).text
    empty = ET.fromstring(httpx.get(f"{base}/requests.xml", params={"status": "closed"}, timeout=30).content)
    assert empty.tag == "service_requests" and len(empty) == 0

    for url in (f"{base}/discovery.json", f"{open311['root']}/open311/discovery.json"):
        found = httpx.get(url, timeout=30).json()
        endpoint = found["endpoints"][0]
        assert endpoint["url"] == base and endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert set(endpoint["formats"]) == {"application/json", "text/xml"}
    discovery = ET.fromstring(httpx.get(f"{base}/discovery.xml", timeout=30).content)
    assert discovery.tag == "discovery"
    assert [f.text for f in discovery.find("endpoints/endpoint/formats")] == ["application/json", "text/xml"]

    missing = httpx.get(f"{base}/requests/{open311['hidden']}.xml", timeout=30)
    assert missing.status_code == 404 and ET.fromstring(missing.content).findtext("error/code") == "404"
    assert httpx.get(f"{base}/services.csv", timeout=30).status_code == 404
    other = httpx.get(f"{base}/services.json", params={"jurisdiction_id": "beijing"}, timeout=30)
    assert other.status_code == 404 and "beijing" in other.json()[0]["description"]


def test_post_with_an_open311_api_key_and_token_lookup(open311, operator_token):
    base, store = open311["base"], open311["store"]
    form = {"service_code": "streetlight", "address_string": "宝山区牡丹江路密山路口", "description": "路灯不亮",
            "jurisdiction_id": JURISDICTION}
    assert httpx.post(f"{base}/requests.json", data=form, timeout=30).status_code == 403
    staff = httpx.post(f"{base}/requests.xml", data={**form, "api_key": operator_token}, timeout=30)
    assert staff.status_code == 403 and ET.fromstring(staff.content).findtext("error/code") == "403"
    wrong_place = httpx.post(f"{base}/requests.json", data={**form, "jurisdiction_id": "x", "api_key": open311["key"]},
                             timeout=30)
    assert wrong_place.status_code == 404

    created = httpx.post(f"{base}/requests.xml", data={**form, "api_key": open311["key"],
                                                       "attribute[appeal_type]": "求助"}, timeout=30)
    assert created.status_code == 200, created.text
    answer = ET.fromstring(created.content).find("request")
    new_id, token = int(answer.findtext("service_request_id")), answer.findtext("token")
    ticket = store.get(new_id)
    assert (ticket["state"], ticket["category"], ticket["appeal_type"]) == ("submitted", "streetlight", "求助")
    assert ticket["address"] == "宝山区牡丹江路密山路口"
    by_token = httpx.get(f"{base}/tokens/{token}.json", timeout=30).json()
    assert by_token == [{"service_request_id": str(new_id), "token": token}]
    assert ET.fromstring(httpx.get(f"{base}/tokens/{token}.xml", timeout=30).content).findtext(
        "request/service_request_id") == str(new_id)
    assert httpx.get(f"{base}/tokens/nope.json", timeout=30).status_code == 404

    as_json = httpx.post(f"{base}/requests.json", json={"service_code": "manhole", "lat": 31.25, "long": 121.4},
                         headers={"Authorization": f"Bearer {open311['key']}"}, timeout=30)
    assert as_json.status_code == 200
    located = store.get(int(as_json.json()[0]["service_request_id"]))
    assert (located["lat"], located["lon"]) == (31.25, 121.4)
    bad = httpx.post(f"{base}/requests.xml", data={"service_code": "manhole", "api_key": open311["key"]}, timeout=30)
    assert bad.status_code == 400 and "address_string" in ET.fromstring(bad.content).findtext("error/description")
