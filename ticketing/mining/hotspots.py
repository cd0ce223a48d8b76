"""Hotspots (places with repeated tickets of one kind) and flood risk points (places that flood
in at least two seasons), plus which risk points fell quiet in the latest season.

Risk-point categories: road_flooding (道路积水) and residential_flooding (小区与地下车库积水).
fallen_tree is left out by default: a tree falls once and is removed, so a repeated place says
little; pass categories=(...) to include it. A "season" is a calendar year's tickets of those
categories in the June-September flood season (汛期); off-season ones (burst mains) are left out.
Ranking: distinct flood days at the place (how many storms it flooded in), then tickets.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Iterable

import sqlalchemy as sa

from ticketing.mining.counts import _range, category_name
from ticketing.mining.db import has_index, ticket_table

FLOOD_CATEGORIES = ("road_flooding", "residential_flooding")
SEASON_MONTHS = ("06", "07", "08", "09")   # 汛期: flood-type tickets outside it (burst mains) are not seasons
# place_keys that name only a street/town or a whole road are too coarse to be a hotspot
_COARSE_SUFFIXES = ("街道", "镇", "乡", "路", "公路", "大道", "街")


def is_specific(place_key: str | None) -> bool:
    if not place_key:
        return False
    if "路口:" in place_key:
        return True
    return not place_key.endswith(_COARSE_SUFFIXES)


def hotspots(engine: sa.Engine, *, since: date | None = None, until: date | None = None,
             categories: Iterable[str] | None = None, min_count: int = 5, specific_only: bool = True,
             district: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Places ranked by tickets of one category in the window (count, distinct days, first/last)."""
    t = ticket_table(engine)
    day = sa.func.substr(t.c.created_at, 1, 10) if engine.dialect.name == "sqlite" else sa.func.date(t.c.created_at)
    n = sa.func.count().label("n")
    conds = [*_range(t, since, until), t.c.place_key.is_not(None)]
    if categories:
        conds.append(t.c.category.in_(list(categories)))
    if district:
        conds.append(t.c.district == district)
    stmt = (sa.select(t.c.place_key, t.c.category, n, sa.func.count(sa.distinct(day)).label("days"),
                      sa.func.min(t.c.created_at).label("first"), sa.func.max(t.c.created_at).label("last"),
                      sa.func.max(t.c.district).label("district"), sa.func.max(t.c.street).label("street"))
            .where(*conds).group_by(t.c.category, t.c.place_key).having(n >= min_count)
            .order_by(n.desc()))
    if engine.dialect.name == "sqlite" and has_index(engine, "ix_mining_cat_place_created"):
        # walking (category, place_key, ...) in order needs no GROUP BY sort: ~30% less CPU than
        # the created_at range scan the planner picks on its own (measured on 1M tickets)
        stmt = stmt.with_hint(t, "INDEXED BY ix_mining_cat_place_created", "sqlite")
    out = []
    with engine.connect() as conn:
        for r in conn.execute(stmt):
            if specific_only and not is_specific(r.place_key):
                continue
            out.append({"place_key": r.place_key, "category": r.category, "name": category_name(r.category),
                        "n": r.n, "days": r.days, "first": str(r.first)[:19], "last": str(r.last)[:19],
                        "district": r.district, "street": r.street})
            if len(out) >= limit:
                break
    return out


def risk_points(engine: sa.Engine, *, categories: Iterable[str] = FLOOD_CATEGORIES, min_seasons: int = 2,
                min_tickets: int = 3, since: date | None = None, until: date | None = None,
                district: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """Flood risk points ranked (storm days hit, then tickets), per district, and the
    points that fell quiet: flooded in earlier seasons (>= min_tickets) but not in the latest one."""
    t = ticket_table(engine)
    dialect = engine.dialect.name
    season = sa.func.substr(t.c.created_at, 1, 4) if dialect == "sqlite" else sa.func.to_char(t.c.created_at, "YYYY")
    day = sa.func.substr(t.c.created_at, 1, 10) if dialect == "sqlite" else sa.func.date(t.c.created_at)
    month = sa.func.substr(t.c.created_at, 6, 2) if dialect == "sqlite" else sa.func.to_char(t.c.created_at, "MM")
    cats = list(categories)
    conds = [*_range(t, since, until), t.c.category.in_(cats), t.c.place_key.is_not(None),
             month.in_(SEASON_MONTHS)]
    if district:
        conds.append(t.c.district == district)
    stmt = (sa.select(t.c.place_key, season.label("season"), sa.func.count().label("n"),
                      sa.func.count(sa.distinct(day)).label("days"), sa.func.max(t.c.district).label("district"),
                      sa.func.max(t.c.street).label("street"), sa.func.max(t.c.category).label("category"))
            .where(*conds).group_by(t.c.place_key, season))
    places: dict[str, dict[str, Any]] = {}
    all_seasons: set[str] = set()
    with engine.connect() as conn:
        for r in conn.execute(stmt):
            if not is_specific(r.place_key):
                continue
            all_seasons.add(r.season)
            p = places.setdefault(r.place_key, {"place_key": r.place_key, "district": r.district, "street": r.street,
                                                "category": r.category, "seasons": {}, "n": 0, "days": 0})
            p["seasons"][r.season] = r.n
            p["n"] += r.n
            p["days"] += r.days
    latest = max(all_seasons) if all_seasons else None
    points, fell = [], []
    for p in places.values():
        p["n_seasons"] = len(p["seasons"])
        p["name"] = category_name(p["category"])
        if p["n_seasons"] >= min_seasons and p["n"] >= min_tickets:
            points.append(p)
        earlier = sum(n for s, n in p["seasons"].items() if s != latest)
        if latest and earlier >= min_tickets and latest not in p["seasons"]:
            fell.append({**p, "earlier": earlier, "latest_season": latest})
    points.sort(key=lambda p: (-p["days"], -p["n"], p["place_key"]))
    for rank, p in enumerate(points, 1):
        p["rank"] = rank
    fell.sort(key=lambda p: -p["earlier"])
    by_district: dict[str, int] = {}
    for p in points:
        by_district[p["district"]] = by_district.get(p["district"], 0) + 1
    return {"categories": cats, "seasons": sorted(all_seasons), "latest_season": latest,
            "points": points[:limit] if limit else points, "total": len(points),
            "by_district": dict(sorted(by_district.items(), key=lambda kv: -kv[1])), "fell": fell}
