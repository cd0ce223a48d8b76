"""The analyses on PostgreSQL (marker `postgres`, needs HOTLINE_TEST_POSTGRES_URL). A throwaway
database is created next to the given one and dropped afterwards, so other tests' tickets do not
mix in."""
from __future__ import annotations

import os
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.postgres
END = date(2026, 11, 26)


@pytest.fixture(scope="module")
def pg_engine():
    base = os.environ.get("HOTLINE_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("HOTLINE_TEST_POSTGRES_URL is not set (e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/test)")
    name = f"hotline_mining_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sa.engine.make_url(base).set(database=name)
    from ticketing.demo_data import DemoOptions, generate

    engine = sa.create_engine(url)
    result = generate(url.render_as_string(hide_password=False), DemoOptions(years=2, per_day=100, end=END), engine=engine)
    yield engine, result
    engine.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.dispose()


def test_analyses_run_and_find_planted_on_postgres(pg_engine):
    from ticketing.mining import counts, early_warning, hotspots, topics, trends
    from ticketing.mining.report import build_report

    engine, result = pg_engine
    weeks = counts.counts(engine, since=date(2026, 1, 1), until=date(2026, 1, 31), by=(), grain="week")
    assert weeks[0]["period"] == "2025-12-29"
    assert sum(r["n"] for r in counts.counts(engine, by=("district",))) == result.rows
    assert counts.department_rates(engine)[0]["department"] == result.planted["departments"][0]["department"]
    hot = {h["place_key"] for h in hotspots.hotspots(engine, limit=10)}
    assert len(hot & {h["place_key"] for h in result.planted["hotspots"]}) >= 5
    rp = hotspots.risk_points(engine)
    assert rp["seasons"] == ["2025", "2026"]
    assert len({p["place_key"] for p in rp["points"]} & {p["place_key"] for p in result.planted["risk_points"]}) >= 28
    tr = {r["category"]: r for r in trends.trends(engine, since=date(2026, 1, 1), until=END)["rows"]}
    assert tr["elevator_retrofit"]["direction"] == "rose"
    spike = result.planted["spikes"][0]
    day = date.fromisoformat(spike["day"])
    ew = early_warning.early_warnings(engine, since=day, until=day)
    assert any(w["street"] == spike["street"] for w in ew["street"])
    assert "共享充电宝" in [t["term"] for t in topics.emerging_topics(engine, until=END)["topics"][:5]]
    assert "<svg" in build_report(engine, since=END - timedelta(days=364), until=END)
