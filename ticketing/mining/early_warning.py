"""Early warning (未诉先办): today's count of a category vs its expected level.

Two levels, both exact Poisson/binomial upper tails with a Benjamini-Hochberg guard:
- city: a category's count on a day vs the mean of the same weekday over the previous `weeks`
  weeks (seasonal and weekly baseline in one); catches a storm or a citywide surge;
- street: given the category's citywide count that day, is one street's share of it unusual vs
  the street's share over the previous `baseline_days`? (conditional binomial). A storm that
  raises flooding everywhere does not flag every street; one street with a burst of noise
  complaints does. m for BH counts every street x category cell, not only the non-empty ones.
Each warning carries the tickets behind it.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from ticketing.mining.counts import category_name
from ticketing.mining.db import day_after, day_start, latest_day, ticket_table
from ticketing.mining.stats import benjamini_hochberg, binom_sf, poisson_sf


def _day_expr(t: sa.Table, dialect: str) -> sa.ColumnElement:
    return sa.func.substr(t.c.created_at, 1, 10) if dialect == "sqlite" else sa.func.to_char(t.c.created_at, "YYYY-MM-DD")


def early_warnings(engine: sa.Engine, *, since: date | None = None, until: date | None = None,
                   baseline_days: int = 364, weeks: int = 8, alpha: float = 0.01, min_count: int = 3,
                   min_ratio: float = 2.0, max_tickets: int = 30) -> dict[str, Any]:
    """Warnings for each day in [since, until] (default: the latest day with tickets)."""
    until = until or latest_day(engine)
    if until is None:
        return {"days": [], "city": [], "street": []}
    since = since or until
    if (until - since).days > 62:
        raise ValueError("early warnings cover at most 63 days per request")
    t = ticket_table(engine)
    dialect = engine.dialect.name
    day = _day_expr(t, dialect)
    with engine.connect() as conn:
        # 1. the days under test, per (day, category, street)
        today = conn.execute(
            sa.select(day.label("day"), t.c.category, t.c.street, sa.func.count().label("n"))
            .where(t.c.created_at >= day_start(since), t.c.created_at < day_after(until), t.c.category.is_not(None))
            .group_by(day, t.c.category, t.c.street)).all()
        # 2. street shares over the baseline before the first tested day
        b0 = since - timedelta(days=baseline_days)
        base = conn.execute(
            sa.select(t.c.category, t.c.street, sa.func.count().label("n"))
            .where(t.c.created_at >= day_start(b0), t.c.created_at < day_start(since), t.c.category.is_not(None))
            .group_by(t.c.category, t.c.street)).all()
        # 3. citywide daily counts for the same-weekday baseline
        w0 = since - timedelta(days=7 * weeks)
        daily = conn.execute(
            sa.select(day.label("day"), t.c.category, sa.func.count().label("n"))
            .where(t.c.created_at >= day_start(w0), t.c.created_at < day_after(until), t.c.category.is_not(None))
            .group_by(day, t.c.category)).all()
    base_street: dict[tuple[str, str | None], int] = {(r.category, r.street): r.n for r in base}
    base_city: dict[str, int] = defaultdict(int)
    streets: set[str | None] = set()
    for (cat, street), n in base_street.items():
        base_city[cat] += n
        streets.add(street)
    daily_n: dict[tuple[str, str], int] = {(r.day, r.category): r.n for r in daily}
    categories = sorted({r.category for r in daily} | set(base_city))
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]

    city, street_rows = [], []
    for d in days:
        ds = d.isoformat()
        for cat in categories:
            k = daily_n.get((ds, cat), 0)
            prior = [daily_n.get(((d - timedelta(days=7 * w)).isoformat(), cat), 0) for w in range(1, weeks + 1)]
            expected = (sum(prior) + 0.5) / len(prior)   # +0.5: a never-seen category is not "infinitely" up
            city.append({"day": ds, "category": cat, "count": k, "expected": expected,
                         "p_value": poisson_sf(k, expected)})
    city_today = {(r["day"], r["category"]): r["count"] for r in city}
    n_streets = max(len(streets), 1)
    for r in today:
        cat_total = city_today.get((r.day, r.category), r.n)
        prior_total = base_city.get(r.category, 0)
        # smoothed share: a street never seen for this category still gets a small prior
        share = (base_street.get((r.category, r.street), 0) + 1) / (prior_total + n_streets)
        street_rows.append({"day": r.day, "category": r.category, "street": r.street, "count": r.n,
                            "city_count": cat_total, "expected": cat_total * share,
                            "p_value": binom_sf(r.n, cat_total, min(share, 1.0))})

    def flag(rows: list[dict[str, Any]], m: int) -> list[dict[str, Any]]:
        for row, q in zip(rows, benjamini_hochberg([x["p_value"] for x in rows], m=m)):
            row["q_value"] = q
            row["ratio"] = row["count"] / row["expected"] if row["expected"] else None
            row["name"] = category_name(row["category"])
        return sorted((x for x in rows if x["q_value"] < alpha and x["count"] >= min_count
                       and (x["ratio"] or 0) >= min_ratio), key=lambda x: x["p_value"])

    city_w = flag(city, len(city))
    street_w = flag(street_rows, n_streets * max(len(categories), 1) * len(days))
    _attach_tickets(engine, t, street_w, max_tickets, street=True)
    _attach_tickets(engine, t, city_w, max_tickets, street=False)
    return {"days": [d.isoformat() for d in days], "alpha": alpha, "baseline_days": baseline_days, "weeks": weeks,
            "city": city_w, "street": street_w}


def _attach_tickets(engine: sa.Engine, t: sa.Table, warnings: list[dict[str, Any]], limit: int, *, street: bool) -> None:
    with engine.connect() as conn:
        for w in warnings:
            d = date.fromisoformat(w["day"])
            conds = [t.c.created_at >= day_start(d), t.c.created_at < day_after(d), t.c.category == w["category"]]
            if street:
                conds.append(t.c.street == w["street"] if w["street"] is not None else t.c.street.is_(None))
            rows = conn.execute(sa.select(t.c.id, t.c.created_at, t.c.district, t.c.street, t.c.place_key, t.c.summary)
                                .where(*conds).order_by(t.c.created_at).limit(limit)).all()
            w["tickets"] = [{"id": r.id, "created_at": str(r.created_at)[:19], "district": r.district,
                             "street": r.street, "place_key": r.place_key, "summary": r.summary} for r in rows]
            if street and rows:
                w["district"] = rows[0].district
