"""Each analysis finds what the demo history planted."""
from datetime import date, timedelta

from ticketing.mining import counts, early_warning, hotspots, topics, trends

from .conftest import END


def test_counts_fold_and_sum(planted_db):
    engine, result = planted_db
    by_district = counts.counts(engine, by=("district",))
    assert sum(r["n"] for r in by_district) == result.rows
    l2 = counts.counts(engine, since=END - timedelta(days=29), until=END, by=("category",))
    l1 = counts.counts(engine, since=END - timedelta(days=29), until=END, by=("category",), level="l1")
    assert sum(r["n"] for r in l1) == sum(r["n"] for r in l2)
    assert {r["category"] for r in l1} >= {"市政设施", "市容环境", "住房物业"}
    monthly = counts.counts(engine, by=("category",), grain="month", where={"district": "杨浦区"})
    assert {r["period"][:4] for r in monthly} == {"2024", "2025", "2026"}
    weekly = counts.counts(engine, since=date(2026, 1, 1), until=date(2026, 1, 31), by=(), grain="week")
    assert weekly[0]["period"] == "2025-12-29"  # weeks are labelled by their Monday
    mix = counts.appeal_mix(engine)
    assert abs(sum(r["share"] for r in mix) - 1) < 1e-9 and mix[0]["appeal_type"] == "投诉"


def test_hotspots_rank_the_planted_places_first(planted_db):
    engine, result = planted_db
    planted = {(h["place_key"], h["category"]) for h in result.planted["hotspots"]}
    top = hotspots.hotspots(engine, limit=len(planted) + 2)
    found = {(h["place_key"], h["category"]) for h in top}
    assert planted <= found, planted - found
    assert all(hotspots.is_specific(h["place_key"]) for h in top)


def test_risk_points_are_the_planted_flood_spots(planted_db):
    engine, result = planted_db
    rp = hotspots.risk_points(engine)
    planted = {p["place_key"] for p in result.planted["risk_points"]}
    keys = [p["place_key"] for p in rp["points"]]
    assert planted <= set(keys), planted - set(keys)
    top = set(keys[: len(planted)])
    assert len(top & planted) >= 0.85 * len(planted)
    assert rp["seasons"] == ["2025", "2026"] and all(p["n_seasons"] >= 2 for p in rp["points"])
    assert sum(rp["by_district"].values()) == rp["total"]
    # the spots that flooded only in the first season are reported as fallen quiet
    fixed = {p["place_key"] for p in result.planted["fixed_points"]}
    fell = {p["place_key"] for p in rp["fell"]}
    assert len(fixed & fell) >= len(fixed) - 1


def test_year_on_year_finds_planted_trends_and_little_else(planted_db):
    engine, _ = planted_db
    tr = trends.trends(engine, since=date(2026, 1, 1), until=END)
    by = {r["category"]: r for r in tr["rows"]}
    assert by["fallen_tree"]["direction"] == "fell" and by["fallen_tree"]["rate_ratio"] < 0.75
    assert "树木倒伏 fell" in by["fallen_tree"]["statement"] and "vs 2025" in by["fallen_tree"]["statement"]
    assert by["elevator_retrofit"]["direction"] == "rose"
    others = [r["category"] for r in tr["rows"] if r["direction"] != "flat"
              and r["category"] not in ("fallen_tree", "elevator_retrofit", "consumer_dispute", "other")]
    assert len(others) <= 2, others
    pop = trends.trends(engine, since=END - timedelta(days=27), until=END, mode="pop")
    assert pop["previous"] == [(END - timedelta(days=55)).isoformat(), (END - timedelta(days=28)).isoformat()]


def test_early_warning_flags_planted_spikes_with_their_tickets(planted_db):
    engine, result = planted_db
    for spike in result.planted["spikes"]:
        day = date.fromisoformat(spike["day"])
        ew = early_warning.early_warnings(engine, since=day, until=day)
        hits = [w for w in ew["street"] if w["street"] == spike["street"] and w["category"] == spike["category"]]
        assert hits, (spike, ew["street"])
        w = hits[0]
        assert w["count"] >= spike["count"] and w["q_value"] < 0.01
        assert sum(t["place_key"] == spike["place_key"] for t in w["tickets"]) >= spike["count"]
        # few other street warnings that day
        assert len(ew["street"]) <= 3


def test_storm_day_raises_a_city_warning_not_one_per_street(planted_db):
    engine, result = planted_db
    storm = date.fromisoformat(result.planted["storm_days"][-1])
    ew = early_warning.early_warnings(engine, since=storm, until=storm)
    assert any(w["category"] == "road_flooding" for w in ew["city"])
    assert sum(w["category"] == "road_flooding" for w in ew["street"]) <= 3


def test_emerging_topics_find_planted_phrases(planted_db):
    engine, result = planted_db
    tp = topics.emerging_topics(engine, until=END)
    terms = [t["term"] for t in tp["topics"][:5]]
    for planted in result.planted["emerging_topics"]:
        assert any(planted["phrase"] in t or t in planted["phrase"] and len(t) >= 3 for t in terms), (planted, terms)
    assert tp["topics"][0]["examples"]


def test_department_rates_flag_the_planted_outlier(planted_db):
    engine, result = planted_db
    rows = counts.department_rates(engine, since=END - timedelta(days=364), until=END)
    by = {r["department"]: r for r in rows}
    worst = result.planted["departments"][0]["department"]
    best = result.planted["departments"][1]["department"]
    assert by[worst]["flagged"] and by[worst]["satisfied_rate"] < 0.7 and by[worst]["overdue_rate"] > 0.15
    assert not by[best]["flagged"] and by[best]["satisfied_rate"] > 0.95
    assert rows[0]["department"] == worst
