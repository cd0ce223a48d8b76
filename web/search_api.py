"""The lookups behind the ticket form (REST, under /api): knowledge base, company directory,
gazetteer, taxonomy categories and departments. The nlp directories are loaded once per
process and shared with the pipeline."""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from web.resources import Resources


def add_routes(api: APIRouter, res: Resources) -> None:
    """Onto the app's /api router."""
    @api.get("/kb", tags=["search"], summary="Knowledge-base search")
    def kb_search(q: str = Query(..., min_length=1, max_length=200), limit: int = Query(5, ge=1, le=50)):
        return _kb_search(res, q, limit)

    @api.get("/kb/{kb_id}", tags=["search"], summary="One knowledge-base article")
    def kb_article(kb_id: str):
        return _kb_article(res, kb_id)

    @api.get("/companies", tags=["search"], summary="Company directory search (misheard/short names too)")
    def company_search(q: str = Query(..., min_length=1, max_length=100), limit: int = Query(5, ge=1, le=50)):
        return _company_search(res, q, limit)

    @api.get("/places", tags=["search"], summary="Gazetteer search: district/street/road/compound with coordinates")
    def place_search(q: str = Query(..., min_length=1, max_length=100), limit: int = Query(10, ge=1, le=50)):
        return _place_search(res, q, limit)

    @api.get("/categories", tags=["search"], summary="Taxonomy categories (for the ticket form)")
    def categories() -> list[dict[str, Any]]:
        return res.categories()

    @api.get("/departments", tags=["search"], summary="Known departments")
    def departments() -> list[dict[str, Any]]:
        return res.store.departments()


# -- search adapters (the nlp directories: loaded once per process, shared with the pipeline) --------

def _nlp(res: Resources, part: str) -> Any:
    def load() -> Any:
        from nlp.extract import load_resources

        return load_resources()

    found = getattr(res.cached("nlp", load), part, None)
    if found is None:
        raise HTTPException(503, f"the {part} directory is not available on this server")
    return found


def _kb_search(res: Resources, q: str, limit: int) -> list[dict[str, Any]]:
    return [_plain(hit) for hit in _nlp(res, "kb").search(q, k=limit)]


def _kb_article(res: Resources, kb_id: str) -> dict[str, Any]:
    article = _nlp(res, "kb").by_id.get(kb_id)
    if article is None:
        raise HTTPException(404, f"no knowledge-base article {kb_id}")
    return _plain(article)


def _company_search(res: Resources, q: str, limit: int) -> list[dict[str, Any]]:
    return [_plain(hit) for hit in _nlp(res, "companies").search(q, k=limit)]


def _place_search(res: Resources, q: str, limit: int) -> list[dict[str, Any]]:
    return [_plain(hit) for hit in _nlp(res, "gazetteer").search(q, limit=limit)]


def _plain(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj
