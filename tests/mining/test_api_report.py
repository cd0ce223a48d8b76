"""REST router, HTML report, CLI and the dashboard's static wiring."""
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient

from ticketing.mining import api as mining_api

from .conftest import END

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"


@pytest.fixture(scope="module")
def client(planted_db):
    engine, _ = planted_db
    app = FastAPI()
    app.include_router(mining_api.router)
    app.dependency_overrides[mining_api.mining_engine] = lambda: engine
    return TestClient(app)


def test_each_endpoint_answers_json(client, planted_db):
    _, result = planted_db
    assert client.get("/api/mining/summary").json()["last"] == END.isoformat()
    rows = client.get("/api/mining/counts", params={"by": "category,district", "grain": "month"}).json()["rows"]
    assert rows and {"category", "district", "period", "n"} <= set(rows[0])
    assert client.get("/api/mining/appeal-mix").json()["rows"]
    assert client.get("/api/mining/departments").json()["rows"][0]["flagged"]
    hot = client.get("/api/mining/hotspots", params={"limit": 10}).json()["rows"]
    assert {h["place_key"] for h in result.planted["hotspots"]} & {h["place_key"] for h in hot}
    rp = client.get("/api/mining/risk-points").json()
    assert rp["total"] >= len(result.planted["risk_points"])
    tr = client.get("/api/mining/trends").json()
    assert tr["rows"][0]["category"] in ("fallen_tree", "elevator_retrofit")
    spike = result.planted["spikes"][0]
    ew = client.get("/api/mining/warnings", params={"since": spike["day"], "until": spike["day"]}).json()
    assert any(w["street"] == spike["street"] for w in ew["street"])
    tp = client.get("/api/mining/topics").json()
    assert tp["topics"]
    assert len(client.get("/api/mining/districts").json()) == 16
    html = client.get("/api/mining/report", params={"since": (END - timedelta(days=60)).isoformat()})
    assert html.status_code == 200 and "<svg" in html.text


def test_bad_parameters_are_422(client):
    assert client.get("/api/mining/counts", params={"by": "nonsense"}).status_code == 422
    assert client.get("/api/mining/counts", params={"grain": "hour"}).status_code == 422
    assert client.get("/api/mining/trends", params={"since": "2026-05-01", "until": "2026-01-01"}).status_code == 422
    assert client.get("/api/mining/warnings", params={"since": "2026-01-01", "until": "2026-11-01"}).status_code == 422


def test_dependencies_hook_guards_every_route(planted_db):
    engine, _ = planted_db

    def deny() -> None:
        raise HTTPException(401, "no token")

    app = FastAPI()
    app.include_router(mining_api.build_router(dependencies=[Depends(deny)]))
    app.dependency_overrides[mining_api.mining_engine] = lambda: engine
    c = TestClient(app)
    for route in mining_api.router.routes:
        assert c.get(route.path).status_code == 401, route.path


def test_report_cli_writes_a_self_contained_file(planted_db, tmp_path):
    engine, result = planted_db
    from cli import main

    out = tmp_path / "report.html"
    url = str(engine.url)
    assert main(["report", "--from", "2025-11-27", "--to", END.isoformat(), "--out", str(out), "--db", url,
                 "--charts-dir", str(tmp_path / "charts")]) == 0
    html = out.read_text(encoding="utf-8")
    assert html.count("<svg") >= 3
    # nothing fetched from elsewhere
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    # the report lists the 30 highest risk points: planted ones fill it (noise does not crowd them out)
    shown = [p["place_key"] for p in result.planted["risk_points"] if p["place_key"] in html]
    assert len(shown) >= min(25, len(result.planted["risk_points"])), shown
    for planted in result.planted["hotspots"][:3]:
        assert planted["place_key"] in html
    assert result.planted["spikes"][0]["street"] in html
    assert "共享充电宝" in html and "树木倒伏 fell" in html
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == ["categories.svg", "risk_districts.svg",
                                                                      "trends.svg", "volume.svg"]


def test_mining_cli_prints_json(planted_db, capsys):
    import json

    from cli import main

    engine, _ = planted_db
    assert main(["mining", "trends", "--db", str(engine.url)]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["direction"] != "flat"


def test_dashboard_uses_only_local_assets_and_existing_endpoints():
    html = (STATIC / "dashboard.html").read_text(encoding="utf-8")
    js = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    for src in re.findall(r'src="([^"]+)"', html):
        assert src.startswith("/static/"), src
        assert (STATIC / src.removeprefix("/static/")).is_file(), src
    vendor = STATIC / "vendor" / "echarts"
    assert (vendor / "LICENSE").is_file() and "Apache License" in (vendor / "LICENSE").read_text()
    paths = {r.path for r in mining_api.router.routes}
    used = set(re.findall(r'"(/api/mining/[a-z-]+)"', js))
    assert used and used <= paths, used - paths
