"""Year-on-year and period-on-period change per category, with an exact test.

Counts per category in two windows are compared as Poisson rates per day (exact conditional
binomial test, Clopper-Pearson interval on the rate ratio), BH-adjusted across categories, so
"树木倒伏 fell 43% vs 2025 (q = 1e-9)" is a statement with numbers.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from ticketing.mining.counts import category_l1, category_name, counts
from ticketing.mining.stats import benjamini_hochberg, compare_rates


def _shift_year(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def previous_window(since: date, until: date, mode: str) -> tuple[date, date]:
    if mode == "yoy":
        return _shift_year(since, -1), _shift_year(until, -1)
    if mode == "pop":
        length = (until - since).days + 1
        return since - timedelta(days=length), since - timedelta(days=1)
    raise ValueError("mode must be yoy (year on year) or pop (period on period)")


def trends(engine: sa.Engine, *, since: date, until: date, mode: str = "yoy", level: str = "l2",
           alpha: float = 0.05, min_total: int = 10, district: str | None = None) -> dict[str, Any]:
    """Per category: counts now and before, rate ratio with 95% CI, p, q and direction."""
    if until < since:
        raise ValueError("until is before since")
    prev_since, prev_until = previous_window(since, until, mode)
    where = {"district": district} if district else None
    now = {r["category"]: r["n"] for r in counts(engine, since=since, until=until, by=("category",), level=level, where=where)}
    before = {r["category"]: r["n"] for r in counts(engine, since=prev_since, until=prev_until, by=("category",),
                                                      level=level, where=where)}
    t1 = (until - since).days + 1
    t0 = (prev_until - prev_since).days + 1
    rows = []
    for cat in sorted(set(now) | set(before), key=lambda c: c or ""):
        a, b = now.get(cat, 0), before.get(cat, 0)
        if a + b < min_total:
            continue
        cmp = compare_rates(a, b, t1, t0)
        rows.append({"category": cat, "name": category_name(cat) if level == "l2" else cat,
                     "l1": category_l1(cat) if level == "l2" else cat, "current": a, "previous": b,
                     "rate_ratio": cmp.rate_ratio, "ci_low": cmp.ci_low, "ci_high": cmp.ci_high,
                     "change_pct": None if cmp.rate_ratio is None else 100 * (cmp.rate_ratio - 1),
                     "p_value": cmp.p_value})
    for r, q in zip(rows, benjamini_hochberg([r["p_value"] for r in rows])):
        r["q_value"] = q
        r["direction"] = "flat" if q >= alpha or r["rate_ratio"] is None else ("rose" if r["rate_ratio"] > 1 else "fell")
        r["statement"] = _statement(r, mode, prev_since, prev_until)
    rows.sort(key=lambda r: (r["direction"] == "flat", r["p_value"]))
    return {"mode": mode, "current": [since.isoformat(), until.isoformat()],
            "previous": [prev_since.isoformat(), prev_until.isoformat()], "alpha": alpha, "rows": rows}


def _statement(r: dict[str, Any], mode: str, prev_since: date, prev_until: date) -> str:
    calendar = mode == "yoy" and (prev_since.month, prev_since.day) == (1, 1) and prev_since.year == prev_until.year
    versus = f"vs {prev_since.year}" if calendar else f"vs {prev_since.isoformat()}..{prev_until.isoformat()}"
    if r["rate_ratio"] is None:
        return f"{r['name']}: {r['current']} tickets, none {versus}"
    verb = {"rose": "rose", "fell": "fell", "flat": "no significant change"}[r["direction"]]
    pct = abs(r["change_pct"])
    head = f"{r['name']} {verb} {pct:.0f}% {versus}" if r["direction"] != "flat" else f"{r['name']}: {verb} {versus}"
    ci = f", 95% CI of ratio {r['ci_low']:.2f}-{r['ci_high']:.2f}" if r["ci_high"] is not None else ""
    q = "q<1e-300" if r["q_value"] == 0 else f"q={r['q_value']:.2g}"   # the tail underflowed a double
    return f"{head} ({r['current']} vs {r['previous']} tickets, ratio {r['rate_ratio']:.2f}{ci}, {q})"
