"""Counts by category (L1/L2) x district x street x day/week/month, appeal-type mix, department rates."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Callable, Iterable

import sqlalchemy as sa

from ticketing.mining.db import bucket, day_after, day_start, ticket_table
from ticketing.mining.stats import benjamini_hochberg, binom_cdf

DIMENSIONS = ("category", "district", "street", "place_key", "department", "appeal_type")
SATISFIED = ("满意", "基本满意")


@lru_cache(maxsize=1)
def taxonomy() -> dict[str, dict[str, Any]]:
    """code -> category entry of the shipped taxonomy (names and L1 for labels)."""
    from config import Settings

    with open(Settings().taxonomy_path, encoding="utf-8") as fh:
        return {c["code"]: c for c in json.load(fh)["categories"]}


def category_name(code: str | None) -> str:
    return taxonomy().get(code or "", {}).get("name", code or "未分类")


def category_l1(code: str | None) -> str:
    return taxonomy().get(code or "", {}).get("l1", "其他")


def _range(t: sa.Table, since: date | None, until: date | None) -> list[sa.ColumnElement[bool]]:
    where = []
    if since:
        where.append(t.c.created_at >= day_start(since))
    if until:
        where.append(t.c.created_at < day_after(until))
    return where


def counts(engine: sa.Engine, *, since: date | None = None, until: date | None = None,
           by: Iterable[str] = ("category",), grain: str | None = None, level: str = "l2",
           where: dict[str, str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Ticket counts grouped by `by` (subset of DIMENSIONS) and optionally a time bucket.

    level="l1" folds categories into their L1 class (via the taxonomy, so the SQL stays on the
    covering index). `where` filters on dimensions, e.g. {"district": "杨浦区"}.
    """
    by = list(by)
    bad = [d for d in by + list(where or {}) if d not in DIMENSIONS and d != "category_l1"]
    if bad:
        raise ValueError(f"unknown dimension(s) {bad}; choose from {DIMENSIONS}")
    if level not in ("l1", "l2"):
        raise ValueError("level must be l1 or l2")
    t = ticket_table(engine)
    cols = [t.c[d].label(d) for d in by]
    # weeks: group by day in SQL (a cheap substr) and fold days into Monday-labelled weeks here;
    # SQLite's date(..., 'weekday 0') per row costs more than the scan itself
    fold_weeks = grain == "week" and engine.dialect.name == "sqlite"
    if grain:
        cols.append(bucket(t.c.created_at, engine.dialect.name, "day" if fold_weeks else grain).label("period"))
    n = sa.func.count().label("n")
    conds = _range(t, since, until)
    for key, value in (where or {}).items():
        if key == "category_l1":
            codes = [c for c, e in taxonomy().items() if e["l1"] == value]
            conds.append(t.c.category.in_(codes))
        else:
            conds.append(t.c[key] == value)
    stmt = sa.select(*cols, n).where(*conds)
    if cols:
        stmt = stmt.group_by(*cols)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    if fold_weeks:
        rows = _fold(rows, lambda r: {**r, "period": _monday(r["period"])})
    if level == "l1" and "category" in by:
        rows = _fold(rows, lambda r: {**r, "category": category_l1(r["category"])})
    elif "category" in by:
        for r in rows:
            r["name"] = category_name(r["category"])
    rows.sort(key=lambda r: (r.get("period") or "", -r["n"]))
    return rows[:limit] if limit else rows


def _monday(day: str) -> str:
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def _fold(rows: list[dict[str, Any]], relabel: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
    """Relabel rows and add up the counts of rows that now share every label."""
    folded: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        r = relabel(r)
        key = tuple((k, v) for k, v in r.items() if k != "n")
        if key in folded:
            folded[key]["n"] += r["n"]
        else:
            folded[key] = r
    return list(folded.values())


def appeal_mix(engine: sa.Engine, *, since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    rows = counts(engine, since=since, until=until, by=("appeal_type",))
    total = sum(r["n"] for r in rows) or 1
    for r in rows:
        r["share"] = r["n"] / total
    return sorted(rows, key=lambda r: -r["n"])


@dataclass
class DepartmentRate:
    department: str
    tickets: int
    visited: int            # with a satisfaction answer
    satisfied: int          # 满意 + 基本满意
    satisfied_rate: float | None
    due: int                # with a resolve_by deadline that has passed (or was met)
    overdue: int            # resolved after resolve_by, or still open past it
    overdue_rate: float | None
    p_low_satisfaction: float   # one-sided exact binomial vs the overall rate
    q_low_satisfaction: float   # BH over departments
    flagged: bool


def department_rates(engine: sa.Engine, *, since: date | None = None, until: date | None = None,
                     min_tickets: int = 30, alpha: float = 0.01, now: datetime | None = None) -> list[dict[str, Any]]:
    """Satisfaction and overdue rates per department; `flagged` = satisfaction significantly below
    the overall rate (exact binomial, BH-adjusted)."""
    t = ticket_table(engine)
    now = now or (day_after(until) if until else datetime.now())
    visited = sa.func.sum(sa.case((t.c.satisfaction.is_not(None), 1), else_=0))
    satisfied = sa.func.sum(sa.case((t.c.satisfaction.in_(SATISFIED), 1), else_=0))
    due = sa.func.sum(sa.case((t.c.resolve_by < now, 1), else_=0))
    overdue = sa.func.sum(sa.case(
        (sa.and_(t.c.resolve_by < now, sa.or_(t.c.resolved_at > t.c.resolve_by, t.c.resolved_at.is_(None))), 1),
        else_=0))
    stmt = (sa.select(t.c.department, sa.func.count().label("tickets"), visited.label("visited"),
                      satisfied.label("satisfied"), due.label("due"), overdue.label("overdue"))
            .where(*_range(t, since, until), t.c.department.is_not(None)).group_by(t.c.department))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    rows = [r for r in rows if r["tickets"] >= min_tickets]
    total_visited = sum(r["visited"] or 0 for r in rows)
    overall = sum(r["satisfied"] or 0 for r in rows) / total_visited if total_visited else None
    p_values = [binom_cdf(int(r["satisfied"] or 0), int(r["visited"] or 0), overall) if overall and r["visited"] else 1.0
                for r in rows]
    q_values = benjamini_hochberg(p_values)
    out = []
    for r, p, q in zip(rows, p_values, q_values):
        v, d = int(r["visited"] or 0), int(r["due"] or 0)
        out.append(DepartmentRate(r["department"], int(r["tickets"]), v, int(r["satisfied"] or 0),
                                  (r["satisfied"] or 0) / v if v else None, d, int(r["overdue"] or 0),
                                  (r["overdue"] or 0) / d if d else None, p, q, q < alpha).__dict__)
    out.sort(key=lambda r: (r["satisfied_rate"] if r["satisfied_rate"] is not None else 2))
    return out
