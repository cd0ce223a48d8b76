"""The dashboard in a real Chromium over the planted history: the planted risk points, hotspots,
spike and topics show up; a screenshot goes to dashboard.png (see the screenshot_dir fixture). Needs Debian's chromium."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def dashboard_url(planted_db):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed at /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    import uvicorn
    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles

    from ticketing.mining import api as mining_api

    engine, _ = planted_db
    app = FastAPI()
    app.get("/api/me")(lambda: {"name": "test", "role": "admin"})  # the server's auth is not under test here
    app.include_router(mining_api.router)
    app.dependency_overrides[mining_api.mining_engine] = lambda: engine
    app.mount("/static", StaticFiles(directory=ROOT / "web" / "static"), name="static")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/static/dashboard.html"
    server.should_exit = True
    thread.join(10)


def test_dashboard_shows_planted_findings(dashboard_url, planted_db, screenshot_dir):
    from playwright.sync_api import sync_playwright

    _, result = planted_db
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.add_init_script("sessionStorage.setItem('hotline.token', 'test')")
        page.goto(dashboard_url)
        page.wait_for_function("document.querySelectorAll('#risk tr').length > 5 && "
                               "document.querySelectorAll('#topics tr').length > 1 && "
                               "document.querySelectorAll('#hotspots tr').length > 5", timeout=120_000)
        page.wait_for_timeout(1500)  # let the charts finish their animation for the screenshot
        risk = page.inner_text("#risk")
        hot = page.inner_text("#hotspots")
        topics = page.inner_text("#topics")
        deps = page.inner_text("#departments")
        page.screenshot(path=str(screenshot_dir / "dashboard.png"), full_page=True)
        canvases = page.locator("canvas").count()
        # the report link fetches with the token and opens the HTML in a new tab
        with page.context.expect_page() as opened:
            page.click("#report-link")
        report = opened.value
        report.wait_for_selector("svg", timeout=120_000)
        report_text = report.inner_text("body")
        browser.close()
    assert not errors, errors
    assert canvases >= 5  # echarts drew the charts
    assert sum(p["place_key"] in risk for p in result.planted["risk_points"]) >= 0.8 * len(result.planted["risk_points"])
    assert sum(h["place_key"] in hot for h in result.planted["hotspots"]) >= len(result.planted["hotspots"]) - 1
    assert "共享充电宝" in topics
    assert "积水风险点" in report_text and any(p["place_key"] in report_text for p in result.planted["risk_points"])
    assert result.planted["departments"][0]["department"] in deps
