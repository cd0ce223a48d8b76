"""REST endpoints, one per analysis (JSON), for the dashboard: `router = APIRouter(prefix="/api/mining")`.

Auth is the including app's business: server.py does
`app.include_router(router, dependencies=[Depends(principal)])`; `build_router(dependencies=...)`
is the hook for apps that want it baked in. The database is the server's own ticket store
(`app.state.resources.store.engine`) when there is one, else Settings().db_url().
Dates are YYYY-MM-DD; omitted windows end on the latest day that has tickets.
"""
from __future__ import annotations

import json
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from ticketing.mining import counts as _counts
from ticketing.mining import early_warning, hotspots as _hotspots, topics as _topics, trends as _trends
from ticketing.mining.db import engine_for, ensure_indexes, latest_day, ticket_table

DATA = Path(__file__).resolve().parent / "data"


def mining_engine(request: Request) -> sa.Engine:
    res = getattr(request.app.state, "resources", None)
    store = getattr(res, "store", None) if res is not None else None
    engine = getattr(store, "engine", None)
    engine = engine if isinstance(engine, sa.Engine) else engine_for(None)
    if engine not in _indexed:
        ensure_indexes(engine)
        _indexed.add(engine)
    return engine


_indexed: set[sa.Engine] = set()


@lru_cache(maxsize=1)
def _districts() -> list[dict[str, Any]]:
    with open(DATA / "demo_places.json", encoding="utf-8") as fh:
        return json.load(fh)["districts"]


def _window(engine: sa.Engine, since: date | None, until: date | None, days: int) -> tuple[date, date]:
    until = until or latest_day(engine) or date.today()
    return since or until - timedelta(days=days - 1), until


def _guard(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def build_router(dependencies: Sequence[Any] = ()) -> APIRouter:
    router = APIRouter(prefix="/api/mining", tags=["mining"], dependencies=list(dependencies))

    @router.get("/summary", summary="Date range, totals, planted demo info if any")
    def summary(engine: sa.Engine = Depends(mining_engine)) -> dict[str, Any]:
        t = ticket_table(engine)
        with engine.connect() as conn:
            row = conn.execute(sa.select(sa.func.count(), sa.func.min(t.c.created_at), sa.func.max(t.c.created_at))).one()
        return {"tickets": row[0], "first": str(row[1])[:10] if row[1] else None,
                "last": str(row[2])[:10] if row[2] else None}

    @router.get("/districts", summary="The 16 districts with approximate centres (for a scatter)")
    def districts() -> list[dict[str, Any]]:
        return [{"name": d["name"], "centre": d["centre"], "population": d["population"]} for d in _districts()]

    @router.get("/counts", summary="Ticket counts by dimensions and period")
    def counts(engine: sa.Engine = Depends(mining_engine), since: date | None = None, until: date | None = None,
               by: str = Query("category", description="comma list of " + ",".join(_counts.DIMENSIONS)),
               grain: str | None = Query(None, pattern="^(day|week|month|year)$"),
               level: str = Query("l2", pattern="^l[12]$"), district: str | None = None, street: str | None = None,
               category: str | None = None, limit: int | None = Query(None, ge=1, le=100000)) -> dict[str, Any]:
        since, until = _window(engine, since, until, 365)
        where = {k: v for k, v in (("district", district), ("street", street), ("category", category)) if v}
        rows = _guard(lambda: _counts.counts(engine, since=since, until=until, by=[b for b in by.split(",") if b],
                                             grain=grain, level=level, where=where, limit=limit))
        return {"since": since.isoformat(), "until": until.isoformat(), "rows": rows}

    @router.get("/appeal-mix", summary="Share of each appeal type")
    def appeal_mix(engine: sa.Engine = Depends(mining_engine), since: date | None = None,
                   until: date | None = None) -> dict[str, Any]:
        since, until = _window(engine, since, until, 365)
        return {"since": since.isoformat(), "until": until.isoformat(),
                "rows": _counts.appeal_mix(engine, since=since, until=until)}

    @router.get("/departments", summary="Satisfaction and overdue rates per department")
    def departments(engine: sa.Engine = Depends(mining_engine), since: date | None = None, until: date | None = None,
                    min_tickets: int = Query(30, ge=1)) -> dict[str, Any]:
        since, until = _window(engine, since, until, 365)
        return {"since": since.isoformat(), "until": until.isoformat(),
                "rows": _counts.department_rates(engine, since=since, until=until, min_tickets=min_tickets)}

    @router.get("/hotspots", summary="Places with repeated tickets of one kind")
    def hotspots(engine: sa.Engine = Depends(mining_engine), since: date | None = None, until: date | None = None,
                 category: str | None = None, district: str | None = None, min_count: int = Query(5, ge=2),
                 limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
        since, until = _window(engine, since, until, 365)
        rows = _hotspots.hotspots(engine, since=since, until=until, categories=[category] if category else None,
                                  district=district, min_count=min_count, limit=limit)
        return {"since": since.isoformat(), "until": until.isoformat(), "rows": rows}

    @router.get("/risk-points", summary="Flood risk points: places flooding in >= min_seasons seasons")
    def risk_points(engine: sa.Engine = Depends(mining_engine), min_seasons: int = Query(2, ge=1),
                    min_tickets: int = Query(3, ge=1), district: str | None = None,
                    categories: str = ",".join(_hotspots.FLOOD_CATEGORIES),
                    limit: int = Query(200, ge=1, le=5000)) -> dict[str, Any]:
        return _hotspots.risk_points(engine, categories=[c for c in categories.split(",") if c], min_seasons=min_seasons,
                                     min_tickets=min_tickets, district=district, limit=limit)

    @router.get("/trends", summary="Year-on-year (yoy) or period-on-period (pop) change per category")
    def trends(engine: sa.Engine = Depends(mining_engine), since: date | None = None, until: date | None = None,
               mode: str = Query("yoy", pattern="^(yoy|pop)$"), level: str = Query("l2", pattern="^l[12]$"),
               district: str | None = None) -> dict[str, Any]:
        until = until or latest_day(engine) or date.today()
        since = since or (until.replace(month=1, day=1) if mode == "yoy" else until - timedelta(days=27))
        return _guard(lambda: _trends.trends(engine, since=since, until=until, mode=mode, level=level, district=district))

    @router.get("/warnings", summary="Early warnings: unusual counts per category (city) and street")
    def warnings(engine: sa.Engine = Depends(mining_engine), since: date | None = None, until: date | None = None,
                 alpha: float = Query(0.01, gt=0, lt=1)) -> dict[str, Any]:
        return _guard(lambda: early_warning.early_warnings(engine, since=since, until=until, alpha=alpha))

    @router.get("/topics", summary="Emerging words/phrases in recent tickets' text")
    def topics(engine: sa.Engine = Depends(mining_engine), until: date | None = None,
               recent_days: int = Query(7, ge=1, le=90), baseline_days: int = Query(56, ge=7, le=730),
               top: int = Query(20, ge=1, le=100)) -> dict[str, Any]:
        return _topics.emerging_topics(engine, until=until, recent_days=recent_days, baseline_days=baseline_days, top=top)

    @router.get("/report", response_class=HTMLResponse, summary="The self-contained HTML report")
    def report(engine: sa.Engine = Depends(mining_engine), since: date | None = None,
               until: date | None = None) -> HTMLResponse:
        from ticketing.mining.report import build_report

        since, until = _window(engine, since, until, 365)
        return HTMLResponse(_guard(lambda: build_report(engine, since=since, until=until)))

    return router


router = build_router()
