"""Department and co-handler for a category at a place.

Uses the nlp engineer's `nlp.taxonomy.Taxonomy.route` when it exists (one source of truth);
until then, and if it fails to import, fills the taxonomy templates here with the same rules
(taxonomy.json `routing_rules`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ticketing.taxonomy_data import category_info, load_taxonomy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    department: str | None
    co_handler: str | None


def street_office(district: str | None, street: str | None) -> str | None:
    """杨浦区 + 长海路街道 -> 杨浦区长海路街道办事处; 闵行区 + 七宝镇 -> 闵行区七宝镇人民政府."""
    if not street:
        return None
    prefix = district if district and not street.startswith(district) else ""
    if street.endswith("镇"):
        return f"{prefix}{street}人民政府"
    if street.endswith("街道"):
        return f"{prefix}{street}办事处"
    return f"{prefix}{street}"


def _fill(template: str | None, district: str | None, street: str | None) -> str | None:
    if not template:
        return None
    if template == "{street}":
        return street_office(district, street)
    if "{district}" in template and not district:
        return None
    if "{street}" in template and not street:
        return None
    return template.replace("{district}", district or "").replace("{street}", street or "")


def _route_here(category: str | None, district: str | None, street: str | None,
                taxonomy: dict[str, Any] | None) -> Route:
    cat = category_info(category, taxonomy)
    if cat is None:
        return Route(None, None)
    dept = _fill(cat["department"], district, street)
    co = _fill(cat.get("co_handler"), district, street)
    if dept is None and cat["department"] == "{street}" and co:
        # street unknown: the district office named as co-handler takes the lead
        dept, co = co, None
    return Route(dept, co)


@lru_cache(maxsize=1)
def _nlp_taxonomy() -> Any:
    """The nlp engineer's Taxonomy, loaded once per process (None if unavailable)."""
    try:
        from nlp.taxonomy import Taxonomy  # type: ignore[import-not-found]

        return Taxonomy.load()
    except Exception as exc:  # noqa: BLE001 - any failure means: use the local fallback
        log.info("nlp.taxonomy unavailable (%s); routing from taxonomy.json here", exc)
        return None


def _route_nlp(category: str | None, district: str | None, street: str | None) -> Route | None:
    taxonomy = _nlp_taxonomy()
    if taxonomy is None:
        return None
    try:
        result = taxonomy.route(category, district, street)
    except Exception as exc:  # noqa: BLE001
        log.warning("nlp Taxonomy.route failed (%s); using local routing", exc)
        return None
    if isinstance(result, dict):
        return Route(result.get("department"), result.get("co_handler"))
    if isinstance(result, (tuple, list)) and len(result) == 2:
        return Route(result[0], result[1])
    if hasattr(result, "department"):
        return Route(result.department, getattr(result, "co_handler", None))
    return None


def route(category: str | None, district: str | None, street: str | None,
          *, taxonomy: dict[str, Any] | None = None) -> Route:
    if taxonomy is None:
        found = _route_nlp(category, district, street)
        if found is not None:
            return found
    return _route_here(category, district, street, taxonomy or load_taxonomy())
