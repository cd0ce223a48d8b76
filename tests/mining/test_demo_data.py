"""The demo history generator: deterministic, realistic proportions, the store's own table, planted record."""
import json
from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa

from ticketing.demo_data import DemoOptions, generate


def _small(tmp_path, name, **kw):
    url = f"sqlite:///{tmp_path / name}"
    return url, generate(url, DemoOptions(years=0.25, per_day=80, end=date(2026, 8, 31), **kw))


def test_same_seed_same_history_and_planted_json(tmp_path):
    url_a, a = _small(tmp_path, "a.db")
    url_b, b = _small(tmp_path, "b.db")
    assert a.rows == b.rows > 0.25 * 365 * 80 * 0.8
    assert a.planted == b.planted
    assert json.loads(open(a.planted_path, encoding="utf-8").read()) == json.loads(json.dumps(a.planted))
    q = "SELECT created_at, category, district, street, place_key, summary FROM ticket ORDER BY id LIMIT 50"
    with sa.create_engine(url_a).connect() as ca, sa.create_engine(url_b).connect() as cb:
        assert ca.exec_driver_sql(q).all() == cb.exec_driver_sql(q).all()
    _, c = _small(tmp_path, "c.db", seed=8)
    assert c.planted["risk_points"] != a.planted["risk_points"]


def test_rows_are_valid_store_tickets(tmp_path):
    url, r = _small(tmp_path, "v.db")
    from ticketing import TicketStore
    from ticketing.places import place_key

    codes = {c["code"] for c in json.load(open("nlp/data/taxonomy.json", encoding="utf-8"))["categories"]}
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT category, district, street, road, address, place_key, department, "
                                    "summary, transcript, state FROM ticket").all()
    assert {x.category for x in rows} <= codes
    assert len({x.category for x in rows}) >= 30
    assert all(x.summary and x.transcript and x.department for x in rows)
    # place keys come from the store's own normaliser
    for x in rows[:200]:
        if "路口" in x.address or "号" in x.address:
            assert x.place_key == place_key(district=x.district, street=x.street, road=x.road, address=x.address)
    # the store reads them back
    ticket = TicketStore(url).get(1)
    assert ticket["call_id"].startswith("demo-7-") and ticket["created_at"].startswith("2026-")


def test_districts_population_weighted_and_storms_in_flood_season(tmp_path):
    url, r = _small(tmp_path, "p.db")
    with sa.create_engine(url).connect() as conn:
        by = Counter(dict(conn.exec_driver_sql("SELECT district, count(*) FROM ticket GROUP BY district").all()))
    assert len(by) == 16
    assert by.most_common(1)[0][0] == "浦东新区"
    assert by["浦东新区"] > 4 * by["黄浦区"]
    assert r.planted["storm_days"] and all(d[5:7] in ("06", "07", "08", "09") for d in r.planted["storm_days"])


def test_refuses_to_double_load_unless_replace(tmp_path):
    url, first = _small(tmp_path, "r.db")
    with pytest.raises(RuntimeError, match="--replace"):
        generate(url, DemoOptions(years=0.25, per_day=80, end=date(2026, 8, 31)))
    again = generate(url, DemoOptions(years=0.25, per_day=80, end=date(2026, 8, 31), replace=True))
    with sa.create_engine(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ticket").scalar() == again.rows == first.rows


def test_bad_options_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        generate(f"sqlite:///{tmp_path / 'x.db'}", DemoOptions(years=0))
