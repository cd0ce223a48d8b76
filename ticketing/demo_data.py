"""A realistic, deterministic multi-year ticket history for the mining analyses and the dashboard.

`generate(url, DemoOptions(years=2, per_day=300, seed=7))` bulk-inserts tickets into the ticket
store's own `ticket` table (schema from ticketing.db.upgrade) and returns what it planted:

- rhythm: weekday/weekend, month multipliers per category (summer noise, winter elderly care),
  flood seasons (June-September) with storm days that spike flooding, fallen trees and outdoor
  facilities; districts weighted by population;
- risk points: crossings and compounds that flood on (almost) every storm day, both seasons;
  "fixed" points that flooded in the first season only;
- hotspots: places with a steady stream of one kind of complaint;
- spikes: one category in one street on a given recent day (for the early warning);
- emerging topics: phrases the taxonomy does not name (共享充电宝, AI换脸) rising in the last days;
- trends: fallen_tree down and elevator_retrofit up in the last 365 days vs the year before;
- departments: satisfaction and overdue rates differ (two planted outliers).

Category mix and texts: ticketing/mining/data/demo_categories.json; places:
ticketing/mining/data/demo_places.json. Rows are tagged call_id = "demo-<seed>-<n>".
"""
from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import sqlalchemy as sa

DATA = Path(__file__).resolve().parent / "mining" / "data"
TAXONOMY = Path(__file__).resolve().parent.parent / "nlp" / "data" / "taxonomy.json"
FLOOD_MONTHS = (6, 7, 8, 9)
log = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    years: float = 2.0
    per_day: int = 300
    seed: int = 7
    end: date | None = None            # last day of the history (default: today)
    plant: bool = True                 # hotspots, risk points, spikes, topics, trends, outliers
    storms: bool = True                # storm days in the flood season (part of the rhythm)
    storms_per_season: int = 8
    batch_size: int = 20_000
    replace: bool = False              # delete earlier demo rows (call_id demo-*) first
    planted_path: str | Path | None = None   # where the planted JSON goes (default next to the DB)


@dataclass
class DemoResult:
    rows: int
    start: date
    end: date
    seconds: float
    planted: dict[str, Any]
    planted_path: str | None = None


@dataclass
class _Place:
    district: str
    street: str
    road: str | None
    address: str
    landmark: str | None
    kind: str                          # number | crossing | compound | street
    lat: float
    lon: float
    place_key: str | None = None


@dataclass
class _World:
    districts: list[dict]
    weights: list[float]
    road_street: dict[tuple[str, str], str]
    compounds: dict[str, list[tuple[str, str]]]        # district -> [(compound, street)]
    landmarks: list[str]
    by_name: dict[str, dict] = field(default_factory=dict)


def _load_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


_ROAD_NAME = re.compile(r"[\u4e00-\u9fa5]{1,8}(?:大道|公路|路|街)")


def _gazetteer_streets_roads() -> dict[str, tuple[list[str], dict[str, list[str]]]]:
    """district -> (streets, {road: its streets}) from nlp.gazetteer; {} when it is not available
    (then demo_places.json's sample lists are used)."""
    try:
        from nlp.gazetteer import Gazetteer

        g = Gazetteer.load()
    except (ImportError, OSError, ValueError) as exc:  # optional for the demo: fall back, say why
        log.info("gazetteer not available (%s): using demo_places.json streets and roads", exc)
        return {}
    out = {}
    for district in g.districts:
        streets = sorted(p.name for p in g.streets_of(district))
        roads = {r.name: sorted(s for s in r.streets if s in streets) for r in g.roads_of(district)
                 if district in r.districts and _ROAD_NAME.fullmatch(r.name)}
        if len(streets) >= 3 and len(roads) >= 4:
            out[district] = (streets, dict(sorted(roads.items())))
    return out


def _world() -> _World:
    """Stable places: the gazetteer's streets and roads (a road keeps its own street when the
    gazetteer knows it), compounds named after roads; choices by a fixed hash, not the run's seed."""
    data = _load_json(DATA / "demo_places.json")
    gaz = _gazetteer_streets_roads()
    road_street: dict[tuple[str, str], str] = {}
    compounds: dict[str, list[tuple[str, str]]] = {}
    districts = []
    for d in data["districts"]:
        rng = random.Random(d["name"])
        road_streets: dict[str, list[str]] = {r: [] for r in d["roads"]}
        if d["name"] in gaz:
            streets, road_streets = gaz[d["name"]]
            d = {**d, "streets": streets, "roads": list(road_streets)}
        districts.append(d)
        for road in d["roads"]:
            road_street[(d["name"], road)] = rng.choice(road_streets.get(road) or d["streets"])
        names = []
        for road in d["roads"]:
            stem = road[:-2] if road.endswith(("公路", "大道", "大街")) else road[:-1]
            for suffix in rng.sample(data["compound_suffixes"], 2):
                name, street = f"{stem}{suffix}", road_street[(d["name"], road)]
                # keep names the store's place_key recognises as a compound (repeats must group)
                if (_place_key(d["name"], street, None, f"{d['name']}{name}") or "").endswith(name):
                    names.append((name, street))
        compounds[d["name"]] = names
    world = _World(districts, [d["population"] for d in districts], road_street, compounds, data["landmarks"])
    world.by_name = {d["name"]: d for d in districts}
    return world


@lru_cache(maxsize=200_000)
def _place_key(district: str, street: str, road: str | None, address: str | None) -> str | None:
    from ticketing.places import place_key

    return place_key(district=district, street=street, road=road, address=address)


def _department(template: str | None, district: str, street: str) -> str | None:
    if not template:
        return None
    office = f"{street}{'人民政府' if street.endswith(('镇', '乡')) else '办事处'}"
    if template == "{street}":
        return f"{district}{office}"
    return template.replace("{district}", district).replace("{street}", f"{district}{office}")


def _flood_season_days(start: date, end: date) -> dict[int, list[date]]:
    seasons: dict[int, list[date]] = {}
    day = start
    while day <= end:
        if day.month in FLOOD_MONTHS:
            seasons.setdefault(day.year, []).append(day)
        day += timedelta(days=1)
    return seasons


class _History:
    """Draws the whole history; `rows()` yields insert dicts day by day."""

    def __init__(self, opts: DemoOptions, end: date) -> None:
        self.opts = opts
        self.end = end
        self.start = end - timedelta(days=int(round(opts.years * 365)) - 1)
        self.rng = random.Random(opts.seed)
        self.np = np.random.default_rng(opts.seed)
        self.scale = opts.per_day / 300.0
        self.world = _world()
        cats = _load_json(DATA / "demo_categories.json")
        self.cat_cfg: dict[str, dict] = cats["categories"]
        self.appeal_mix = cats["appeal_mix"]
        self.weekend = cats["weekend"]
        self.topics_cfg = cats["emerging_topics"]
        total = sum(c["weight"] for c in self.cat_cfg.values())
        self.share = {code: c["weight"] / total for code, c in self.cat_cfg.items()}
        taxonomy = _load_json(TAXONOMY)
        self.tax = {c["code"]: c for c in taxonomy["categories"]}
        self.hours = [0.3, 0.2, 0.1, 0.1, 0.1, 0.3, 0.8, 2, 4, 6, 6.5, 5.5, 4, 5, 6, 6, 5.5, 4.5, 3.5, 3.5, 3, 2.5, 1.5, 0.8]
        self.n = 0
        self.planted: dict[str, Any] = {"seed": opts.seed, "per_day": opts.per_day, "start": self.start.isoformat(),
                                        "end": end.isoformat(), "storm_days": [], "risk_points": [], "fixed_points": [],
                                        "hotspots": [], "spikes": [], "emerging_topics": [], "trends": [],
                                        "departments": []}
        self._plan()

    # --- planning -----------------------------------------------------------------------------
    def _random_district(self, rng: random.Random | None = None) -> dict:
        return (rng or self.rng).choices(self.world.districts, weights=self.world.weights)[0]

    def _place(self, district: dict, kind: str | None = None, rng: random.Random | None = None) -> _Place:
        rng = rng or self.rng
        name = district["name"]
        kind = kind or rng.choices(("number", "crossing", "compound", "street"), weights=(40, 20, 25, 15))[0]
        lat0, lon0 = district["centre"]
        lat, lon = lat0 + rng.gauss(0, 0.025), lon0 + rng.gauss(0, 0.03)
        if kind == "crossing":
            a, b = rng.sample(district["roads"], 2)
            street = self.world.road_street[(name, a)]
            crossing = f"{a}{b}路口"
            return _Place(name, street, a, f"{name}{crossing}", crossing, kind, lat, lon)
        if kind == "compound":
            compound, street = rng.choice(self.world.compounds[name])
            return _Place(name, street, None, f"{name}{compound}", compound, kind, lat, lon)
        if kind == "number":
            road = rng.choice(district["roads"])
            number = rng.randint(1, 1999)
            return _Place(name, self.world.road_street[(name, road)], road, f"{name}{road}{number}号", None, kind, lat, lon)
        street = rng.choice(district["streets"])
        return _Place(name, street, None, f"{name}{street}", None, kind, lat, lon)

    def _keyed(self, place: _Place) -> _Place:
        # a street-only place keys on the street itself (its name may end in 新村, like a compound)
        address = None if place.kind == "street" else place.address
        place.place_key = _place_key(place.district, place.street, place.road, address)
        return place

    def _plan(self) -> None:
        opts = self.opts
        plan_rng = random.Random(opts.seed * 7919 + 1)
        # storm days: part of the normal rhythm, present even without planted anomalies
        self.storm_days: set[date] = set()
        seasons = _flood_season_days(self.start, self.end)
        if opts.storms:
            for _year, days in sorted(seasons.items()):
                k = min(len(days), max(1, round(opts.storms_per_season * len(days) / 122)))
                self.storm_days.update(plan_rng.sample(days, k))
        self.planted["storm_days"] = sorted(d.isoformat() for d in self.storm_days)
        self.risk_points: list[tuple[_Place, str]] = []
        self.fixed_points: list[tuple[_Place, str]] = []
        self.hotspots: list[tuple[_Place, str, float]] = []
        self.spikes: list[tuple[date, _Place, str, int]] = []
        self.trend_mult: dict[str, float] = {}
        self.dept_quality: dict[str, tuple[float, float]] = {}
        self.recent_from = self.end - timedelta(days=364)
        if not opts.plant:
            return
        from ticketing.mining.hotspots import is_specific

        used: set[str] = set()

        def fresh(district: dict, kind: str) -> _Place:
            for _ in range(100):
                p = self._keyed(self._place(district, kind, plan_rng))
                if p.place_key not in used and is_specific(p.place_key):
                    used.add(p.place_key or "")
                    return p
            raise RuntimeError("demo places exhausted")

        # risk points: ~2 per district, more in the big ones; crossings flood, compounds flood
        for i, d in enumerate(self.world.districts):
            n_cross = 2 if d["population"] >= 100 else 1
            for _ in range(n_cross):
                self.risk_points.append((fresh(d, "crossing"), "road_flooding"))
            if i % 2 == 0:
                self.risk_points.append((fresh(d, "compound"), "residential_flooding"))
        for d in plan_rng.sample(self.world.districts, 4):
            self.fixed_points.append((fresh(d, "crossing"), "road_flooding"))
        first_season = min(seasons) if seasons else None
        self.fixed_season = first_season
        # hotspots: a steady stream of one complaint at one place
        hot_specs = [("cooking_fumes", "number"), ("noise", "number"), ("property_service", "compound"),
                     ("street_vendor", "crossing"), ("bike_parking", "crossing"), ("illegal_construction", "compound")]
        for code, kind in hot_specs:
            d = self._random_district(plan_rng)
            self.hotspots.append((fresh(d, kind), code, 0.15 * self.scale))
        # spikes: one category in one street on a recent day (the last day and nine days before)
        for offset, code, district in ((0, "noise", "杨浦区"), (9, "garbage", "闵行区")):
            d = self.world.by_name[district]
            n = int(round(9 + 3 * math.sqrt(self.scale)))
            self.spikes.append((self.end - timedelta(days=offset), fresh(d, "number"), code, n))
        self.trend_mult = {"fallen_tree": 0.55, "elevator_retrofit": 1.6}
        self.dept_quality = {"浦东新区房屋管理局": (0.62, 0.22), "徐汇区市场监督管理局": (0.985, 0.01)}

        def place_dict(p: _Place) -> dict:
            return {"place_key": p.place_key, "district": p.district, "street": p.street, "address": p.address}

        self.planted["risk_points"] = [{**place_dict(p), "category": c, "seasons": sorted(seasons)} for p, c in self.risk_points]
        self.planted["fixed_points"] = [{**place_dict(p), "category": c, "season": first_season} for p, c in self.fixed_points]
        self.planted["hotspots"] = [{**place_dict(p), "category": c, "per_day": r} for p, c, r in self.hotspots]
        self.planted["spikes"] = [{**place_dict(p), "day": d.isoformat(), "category": c, "count": n} for d, p, c, n in self.spikes]
        self.planted["trends"] = [{"category": c, "multiplier": m, "from": self.recent_from.isoformat()}
                                  for c, m in self.trend_mult.items()]
        self.planted["departments"] = [{"department": k, "satisfied_rate": v[0], "overdue_rate": v[1]}
                                       for k, v in self.dept_quality.items()]
        for t in self.topics_cfg:
            self.planted["emerging_topics"].append({"phrase": t["phrase"], "category": t["category"],
                                                    "from": (self.end - timedelta(days=t["days"] - 1)).isoformat()})

    # --- drawing ------------------------------------------------------------------------------
    def _quality(self, department: str | None) -> tuple[float, float]:
        if department is None:
            return 0.9, 0.05
        q = self.dept_quality.get(department)
        if q is None:
            h = random.Random(f"{self.opts.seed}:{department}")
            q = (h.uniform(0.82, 0.95), h.uniform(0.02, 0.08))
            self.dept_quality[department] = q
        return q

    def _ticket(self, day: date, code: str, place: _Place, issue: str | None = None,
                hour: int | None = None) -> dict[str, Any]:
        rng = self.rng
        cfg, tax = self.cat_cfg[code], self.tax[code]
        issue = issue or rng.choice(cfg["issues"])
        if place.place_key is None:
            self._keyed(place)
        hour = hour if hour is not None else rng.choices(range(24), weights=self.hours)[0]
        created = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60))
        mix = self.appeal_mix["consult" if cfg.get("consult") else "default"]
        appeal = rng.choices(list(mix), weights=list(mix.values()))[0]
        urgent = tax["urgency"] == "urgent"
        department = _department(tax["department"], place.district, place.street)
        co_handler = _department(tax["co_handler"], place.district, place.street)
        sat_rate, overdue_rate = self._quality(department)
        if urgent:
            response_by, resolve_by = created + timedelta(hours=2), created + timedelta(hours=24)
        elif appeal in ("咨询", "建议", "表扬"):
            response_by, resolve_by = created + timedelta(days=1), created + timedelta(days=1)
        else:
            response_by, resolve_by = created + timedelta(days=1), created + timedelta(days=7)
        age = (self.end - day).days
        resolved_at = closed_at = satisfaction = None
        overdue = rng.random() < overdue_rate
        if age > 20 or rng.random() < age / 20:
            span = (resolve_by - created).total_seconds()
            resolved_at = (resolve_by + timedelta(hours=rng.uniform(1, 96))) if overdue else \
                created + timedelta(seconds=span * rng.uniform(0.1, 0.95))
            r = rng.random()
            satisfaction = "满意" if r < sat_rate * 0.8 else "基本满意" if r < sat_rate else "不满意"
            closed_at = resolved_at + timedelta(days=rng.uniform(0.5, 3))
            state = "closed"
        else:
            state = rng.choice(("dispatched", "contacted", "in_progress"))
        surname = rng.choice("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗")
        caller = f"{surname}{rng.choice(('先生', '女士'))}"
        phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}" if rng.random() < 0.6 else None
        where = place.address
        summary = f"反映{where}{issue}"
        transcript = (f"您好，12345市民服务热线。\n喂，你好，我要反映个事情，{issue}。\n请问具体在哪里？\n"
                      f"在{where}{'，' + rng.choice(self.world.landmarks) + '旁边' if rng.random() < 0.3 else ''}。\n"
                      f"好的，请问怎么称呼？\n我姓{surname}。\n好的，我们会尽快转交处理。")
        self.n += 1
        return {
            "call_id": f"demo-{self.opts.seed}-{self.n:07d}", "created_at": created, "updated_at": closed_at or created,
            "state": state, "appeal_type": appeal, "category": code, "category_l1": tax["l1"],
            "urgency": tax["urgency"], "district": place.district, "street": place.street, "road": place.road,
            "address": place.address, "landmark": place.landmark, "lat": round(place.lat, 5),
            "lon": round(place.lon, 5), "place_key": place.place_key, "department": department,
            "co_handler": co_handler, "caller_name": caller, "phone": phone, "summary": summary,
            "transcript": transcript, "dispatched_at": created + timedelta(minutes=10),
            "response_by": response_by, "resolve_by": resolve_by,
            "contacted_at": created + timedelta(hours=1) if state != "dispatched" else None,
            "resolved_at": resolved_at, "closed_at": closed_at, "extended": rng.random() < 0.02,
            "warning": satisfaction == "不满意", "supervised": overdue and rng.random() < 0.3,
            "satisfaction": satisfaction, "round": 2 if satisfaction == "不满意" and rng.random() < 0.5 else 1,
        }

    def _random_ticket(self, day: date, code: str, hour: int | None = None) -> dict[str, Any]:
        return self._ticket(day, code, self._place(self._random_district()), hour=hour)

    def days(self) -> Iterator[list[dict[str, Any]]]:
        day = self.start
        while day <= self.end:
            yield self._day(day)
            day += timedelta(days=1)

    def _day(self, day: date) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        weekend = day.weekday() >= 5
        recent = day >= self.recent_from
        for code, cfg in self.cat_cfg.items():
            lam = self.opts.per_day * self.share[code] * cfg.get("months", {}).get(str(day.month), 1.0)
            if weekend:
                lam *= self.weekend * cfg.get("weekend", 1.0)
            if recent:
                lam *= self.trend_mult.get(code, 1.0)
            for _ in range(int(self.np.poisson(lam))):
                rows.append(self._random_ticket(day, code))
        if day in self.storm_days:
            rows += self._storm(day)
        for place, code, rate in self.hotspots:
            for _ in range(int(self.np.poisson(rate))):
                rows.append(self._ticket(day, code, place))
        for spike_day, place, code, n in self.spikes:
            if day == spike_day:
                rows += [self._ticket(day, code, place, hour=self.rng.choice((21, 22, 23, 0, 1))) for _ in range(n)]
        if self.opts.plant:
            for t in self.topics_cfg:
                first = self.end - timedelta(days=t["days"] - 1)
                if day >= first:
                    ramp = ((day - first).days + 1) / t["days"]
                    for _ in range(int(self.np.poisson(self.opts.per_day * t["peak_share"] * ramp))):
                        rows.append(self._ticket(day, t["category"], self._place(self._random_district()),
                                                 issue=self.rng.choice(t["issues"])))
        return rows

    def _storm(self, day: date) -> list[dict[str, Any]]:
        rows = []
        # storms hit in the evening rush and at night
        hours = (17, 18, 19, 20, 21, 22, 23)
        for code, cfg in self.cat_cfg.items():
            lam = cfg.get("storm", 0.0) * self.opts.per_day
            if day >= self.recent_from:
                lam *= self.trend_mult.get(code, 1.0)
            for _ in range(int(self.np.poisson(lam)) if lam else 0):
                rows.append(self._random_ticket(day, code, hour=self.rng.choice(hours)))
        for place, code in self.risk_points:
            # the same spots flood on almost every storm
            for _ in range(int(self.np.poisson(1.6 * self.scale))):
                rows.append(self._ticket(day, code, place, hour=self.rng.choice(hours)))
        for place, code in self.fixed_points:
            if day.year == self.fixed_season:
                for _ in range(int(self.np.poisson(1.6 * self.scale))):
                    rows.append(self._ticket(day, code, place, hour=self.rng.choice(hours)))
        return rows


def _ticket_table(engine: sa.Engine) -> sa.Table:
    """The ticket store's table, at its current migration (never a table of our own)."""
    from ticketing.db import upgrade

    upgrade(engine)
    return sa.Table("ticket", sa.MetaData(), autoload_with=engine)


def _bulk_insert(table: sa.Table, dialect: str) -> tuple[sa.Insert, Callable[[dict], dict] | None]:
    """On SQLite, bind datetimes as the strings SQLAlchemy itself stores ("YYYY-MM-DD HH:MM:SS.ffffff")
    through a same-named table with plain column types: the per-value type processors were a
    third of the load time. Elsewhere the store's own table and types."""
    if dialect != "sqlite":
        return table.insert(), None
    times = [c.name for c in table.columns if isinstance(c.type, sa.DateTime)]
    plain = sa.Table(table.name, sa.MetaData(), *[
        sa.Column(c.name, sa.String if c.name in times else sa.Integer if isinstance(c.type, sa.Boolean)
                  else sa.String if isinstance(c.type, sa.JSON) else c.type) for c in table.columns])

    def convert(row: dict) -> dict:
        for name in times:
            v = row.get(name)
            if v is not None:
                row[name] = v.strftime("%Y-%m-%d %H:%M:%S.%f")
        return row

    return plain.insert(), convert


def default_planted_path(url: str) -> Path:
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        return Path(parsed.database).expanduser().with_suffix(".planted.json")
    from config import hotline_home

    return hotline_home() / "demo_planted.json"


def generate(url: str | None = None, options: DemoOptions | None = None,
             progress: Callable[[int, int], None] | None = None, engine: sa.Engine | None = None) -> DemoResult:
    """Generate and insert the history; `progress(days_done, days_total)` after each batch."""
    from ticketing.db import default_url, make_engine

    opts = options or DemoOptions()
    if opts.years <= 0 or opts.per_day <= 0:
        raise ValueError("years and per_day must be positive")
    url = url or default_url()
    engine = engine or make_engine(url)
    end = opts.end or date.today()
    t0 = time.perf_counter()
    table = _ticket_table(engine)
    history = _History(opts, end)
    with engine.begin() as conn:
        existing = conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.call_id.like("demo-%"))).scalar_one()
        if existing and not opts.replace:
            raise RuntimeError(f"the ticket table already holds {existing} demo tickets; "
                               "pass replace=True (--replace) to delete them first")
        if existing:
            conn.execute(table.delete().where(table.c.call_id.like("demo-%")))
    total_days = (end - history.start).days + 1
    batch: list[dict[str, Any]] = []
    rows = 0
    insert, convert = _bulk_insert(table, engine.dialect.name)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # bulk load: a big page cache keeps the store's indexes in memory (random inserts into
            # them are what slows a large load); one transaction, so no per-batch sync anyway
            conn.exec_driver_sql("PRAGMA cache_size=-524288")
        for i, day_rows in enumerate(history.days(), 1):
            batch += day_rows
            if len(batch) >= opts.batch_size or i == total_days:
                conn.execute(insert, [convert(r) for r in batch] if convert else batch)
                rows += len(batch)
                batch = []
                if progress:
                    progress(i, total_days)
    from ticketing.mining.db import ensure_indexes

    ensure_indexes(engine)
    planted = history.planted
    planted["rows"] = rows
    path = Path(opts.planted_path) if opts.planted_path else default_planted_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(planted, ensure_ascii=False, indent=1), encoding="utf-8")
    seconds = time.perf_counter() - t0
    log.info("demo history: %d tickets %s..%s in %.1f s", rows, history.start, end, seconds)
    return DemoResult(rows, history.start, end, seconds, planted, str(path))


def result_dict(result: DemoResult) -> dict[str, Any]:
    d = asdict(result)
    d["start"], d["end"] = result.start.isoformat(), result.end.isoformat()
    return d
