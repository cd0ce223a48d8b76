"""Taxonomy: the centre's vocabulary (categories, appeal types), routing templates, SLA, lifecycle.

The default file is nlp/data/taxonomy.json; a hotline centre replaces it with its own
(HOTLINE_TAXONOMY or an explicit path). Routing follows the file's ``routing_rules``:

* ``{district}`` is the full district name (杨浦区); a template that needs it while the district is
  unknown gives ``None`` (the operator chooses).
* ``{street}`` alone is the street office / town government by its full name
  (杨浦区长海路街道办事处, 闵行区七宝镇人民政府).
* an unfilled ``{street}`` falls back to the district's own office for that duty: for a lead
  department that is the category's district-level co-handler when it has one (占道 → 区城管执法局),
  else the optional ``department_fallback`` template of the category, else ``{district}人民政府``;
  an unfilled ``{street}`` co-handler is dropped (None) — the labelled corpus does the same.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "taxonomy.json"
DISTRICT_OFFICE = "{district}人民政府"


@dataclass(frozen=True)
class Category:
    code: str
    l1: str
    name: str
    department: str | None
    co_handler: str | None
    urgency: str = "normal"
    department_fallback: str | None = None


def street_office_name(district: str | None, street: str) -> str:
    """Full office name of a street/town: 街道 → 街道办事处, 镇/乡 → 人民政府 (district prefixed)."""
    prefix = district or ""
    if street.startswith(prefix):
        prefix = ""
    if street.endswith("街道"):
        return f"{prefix}{street}办事处"
    if street.endswith(("镇", "乡")):
        return f"{prefix}{street}人民政府"
    return f"{prefix}{street}"


def _default_office_name() -> Callable[[str | None, str], str]:
    # Prefer the gazetteer's naming (it knows irregular offices); fall back to the suffix rule.
    try:
        try:
            from nlp.gazetteer import Gazetteer  # type: ignore
        except ImportError:
            from nlp.location import Gazetteer  # type: ignore

        gaz = Gazetteer.load()

        def office(district: str | None, street: str) -> str:
            try:
                name = gaz.office_name(district, street)
            except Exception:  # unknown street in the gazetteer: the suffix rule still names it
                name = None
            return name or street_office_name(district, street)

        return office
    except Exception:
        return street_office_name


@dataclass
class Taxonomy:
    appeal_types: list[str]
    urgency_levels: list[str]
    categories: dict[str, Category]
    routing_rules: list[str] = field(default_factory=list)
    sla: dict = field(default_factory=dict)
    lifecycle: dict = field(default_factory=dict)
    path: Path | None = None
    office_name: Callable[[str | None, str], str] = street_office_name

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, office_name: Callable | None = None) -> "Taxonomy":
        p = Path(path or os.environ.get("HOTLINE_TAXONOMY") or DEFAULT_PATH)
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"taxonomy file not found: {p}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"taxonomy file {p} is not valid JSON: {e}") from None
        cats: dict[str, Category] = {}
        for i, c in enumerate(raw.get("categories", [])):
            missing = [k for k in ("code", "l1", "name", "department") if k not in c]
            if missing:
                raise ValueError(f"{p}: category #{i} lacks {missing}")
            cats[c["code"]] = Category(
                code=c["code"], l1=c["l1"], name=c["name"], department=c.get("department"),
                co_handler=c.get("co_handler"), urgency=c.get("urgency", "normal"),
                department_fallback=c.get("department_fallback"),
            )
        return cls(
            appeal_types=list(raw.get("appeal_types", [])),
            urgency_levels=list(raw.get("urgency", ["urgent", "normal"])),
            categories=cats,
            routing_rules=list(raw.get("routing_rules", [])),
            sla=dict(raw.get("sla", {})),
            lifecycle=dict(raw.get("lifecycle", {})),
            path=p,
            office_name=office_name or _default_office_name(),
        )

    # ---- lookups -------------------------------------------------------------------------
    def category(self, code: str | None) -> Category | None:
        return self.categories.get(code) if code else None

    def l1(self, code: str | None) -> str | None:
        c = self.category(code)
        return c.l1 if c else None

    def default_urgency(self, code: str | None) -> str | None:
        c = self.category(code)
        return c.urgency if c else None

    @property
    def l1_names(self) -> list[str]:
        return list(dict.fromkeys(c.l1 for c in self.categories.values()))

    # ---- routing -------------------------------------------------------------------------
    def _fill(self, template: str, district: str | None, street: str | None) -> str | None:
        if template.strip() == "{street}":
            return self.office_name(district, street) if (street and district) else None
        if "{street}" in template and not street:
            return None
        if "{district}" in template and not district:
            return None
        return template.replace("{district}", district or "").replace("{street}", street or "")

    def route(self, category: str | None, district: str | None, street: str | None) -> tuple[str | None, str | None]:
        """(department, co_handler) for a category at a place, per the taxonomy's routing_rules."""
        cat = self.category(category)
        if cat is None:
            return None, None
        dept = self._fill(cat.department, district, street) if cat.department else None
        co = self._fill(cat.co_handler, district, street) if cat.co_handler else None
        if dept is None and cat.department and "{street}" in cat.department and district:
            # Street unknown: the district's own office for that duty takes the lead.
            if cat.co_handler and "{district}" in cat.co_handler and "{street}" not in cat.co_handler:
                dept, co = co, None
            else:
                dept = self._fill(cat.department_fallback or DISTRICT_OFFICE, district, None)
        if co is not None and co == dept:
            co = None
        return dept, co

