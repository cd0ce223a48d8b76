"""`hotline report`: one self-contained HTML file (inline CSS and SVG charts, no external links)."""
from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta
from html import escape
from typing import Any, Callable, Iterable, Sequence

import sqlalchemy as sa

from ticketing.mining import counts as C
from ticketing.mining import early_warning, hotspots as H, svg, topics as T, trends as TR

CSS = """body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC','PingFang SC',sans-serif;margin:24px auto;max-width:980px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:2px solid #2f6fb0;padding-bottom:4px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left}
th{background:#f2f5f9}td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777;font-size:12px}
.fell{color:#b03a48}.rose{color:#2f6fb0}.flag{color:#b03a48;font-weight:bold}figure{margin:8px 0}"""


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="n"' if i in numeric else ""
            cells.append(f"<td{cls}>{v if isinstance(v, _Raw) else escape(str('' if v is None else v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def build_report(engine: sa.Engine, *, since: date, until: date, progress: Callable[[str], None] | None = None,
                 charts: dict[str, str] | None = None) -> str:
    """The report for [since, until]. `charts`, if given, receives the SVG of each chart by name."""
    if until < since:
        raise ValueError("--to is before --from")
    step = progress or (lambda _s: None)
    charts = charts if charts is not None else {}
    parts: list[str] = []

    step("volume")
    daily = C.counts(engine, since=since, until=until, by=(), grain="day")
    flood = C.counts(engine, since=since, until=until, by=(), grain="day", where={"category": "road_flooding"})
    days = [(since + timedelta(days=i)).isoformat() for i in range((until - since).days + 1)]
    total_by_day = {r["period"]: r["n"] for r in daily}
    flood_by_day = {r["period"]: r["n"] for r in flood}
    total = sum(total_by_day.values())
    values = [flood_by_day.get(d, 0) for d in days] or [0]
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values)
    cut = max(5.0, med + 6 * max(mad, 1.0))      # robust: storms do not raise their own threshold
    storm = [d for d in days if flood_by_day.get(d, 0) >= cut]
    charts["volume"] = svg.line_chart(
        days, [("每日工单", [total_by_day.get(d, 0) for d in days]), ("道路积水", [flood_by_day.get(d, 0) for d in days])],
        title=f"每日工单量 {since}～{until}", highlight=storm, highlight_label="暴雨日(道路积水突增)")
    parts.append(f"<h2>工单量</h2><p>{total} 件工单，日均 {total / max(len(days), 1):.0f} 件；"
                 f"道路积水突增日 {len(storm)} 天。</p><figure>{charts['volume']}</figure>")

    step("categories")
    cats = C.counts(engine, since=since, until=until, by=("category",))
    cats.sort(key=lambda r: -r["n"])
    charts["categories"] = svg.bar_chart([(r["name"], r["n"]) for r in cats[:15]], title="诉求分类 Top 15")
    l1 = C.counts(engine, since=since, until=until, by=("category",), level="l1")
    l1.sort(key=lambda r: -r["n"])
    mix = C.appeal_mix(engine, since=since, until=until)
    parts.append("<h2>诉求分类</h2><figure>" + charts["categories"] + "</figure>"
                 + _table(["一级分类", "工单", "占比"], [(r["category"], r["n"], _pct(r["n"] / max(total, 1))) for r in l1], (1, 2))
                 + _table(["诉求类型", "工单", "占比"], [(r["appeal_type"], r["n"], _pct(r["share"])) for r in mix], (1, 2)))

    step("trends")
    tr = TR.trends(engine, since=since, until=until, mode="yoy")
    sig = [r for r in tr["rows"] if r["direction"] != "flat"]
    if sig:
        charts["trends"] = svg.bar_chart([(r["name"], r["change_pct"]) for r in sig[:15]],
                                         title=f"同比显著变化 (vs {tr['previous'][0]}～{tr['previous'][1]})",
                                         value_fmt="{:+.0f}%")
    parts.append("<h2>同比变化</h2>" + (f"<figure>{charts['trends']}</figure>" if sig else "<p>无显著变化。</p>")
                 + f"<p class='muted'>精确条件二项检验（泊松率比），BH 校正，q&lt;{tr['alpha']}。</p>"
                 + _table(["分类", "本期", "上年同期", "率比 (95% CI)", "q", "结论"],
                          [(r["name"], r["current"], r["previous"],
                            "" if r["rate_ratio"] is None else f"{r['rate_ratio']:.2f} ({r['ci_low']:.2f}–{r['ci_high']:.2f})",
                            "<1e-300" if r["q_value"] == 0 else f"{r['q_value']:.2g}", _Raw(f"<span class='{r['direction']}'>{escape(r['statement'])}</span>"))
                           for r in tr["rows"][:20]], (1, 2)))

    step("risk points")
    rp = H.risk_points(engine, until=until)
    charts["risk_districts"] = svg.bar_chart(list(rp["by_district"].items()), title="积水风险点 按区", label_width=120)
    parts.append(f"<h2>积水风险点</h2><p>{rp['total']} 个地点在至少两个汛期（{', '.join(rp['seasons'])}）出现积水工单"
                 f"（{', '.join(C.category_name(c) for c in rp['categories'])}）。</p><figure>{charts['risk_districts']}</figure>"
                 + _table(["排名", "地点", "区", "街镇", "类别", "各汛期工单", "积水天数", "工单"],
                          [(p["rank"], p["place_key"], p["district"], p["street"], p["name"],
                            "，".join(f"{s}: {n}" for s, n in sorted(p["seasons"].items())), p["days"], p["n"])
                           for p in rp["points"][:30]], (0, 6, 7)))
    if rp["fell"]:
        parts.append(f"<p>最近一个汛期（{escape(str(rp['latest_season']))}）不再积水的地点（此前 ≥3 件）：</p>"
                     + _table(["地点", "区", "此前工单"], [(p["place_key"], p["district"], p["earlier"]) for p in rp["fell"][:15]], (2,)))

    step("hotspots")
    hs = H.hotspots(engine, since=since, until=until, limit=20)
    parts.append("<h2>热点地点</h2><p class='muted'>同一地点同一类诉求重复工单（具体到门牌、路口或小区）。</p>"
                 + _table(["地点", "区", "街镇", "类别", "工单", "天数", "首次", "最近"],
                          [(h["place_key"], h["district"], h["street"], h["name"], h["n"], h["days"], h["first"][:10],
                            h["last"][:10]) for h in hs], (4, 5)))

    step("early warnings")
    w0 = max(since, until - timedelta(days=13))
    ew = early_warning.early_warnings(engine, since=w0, until=until)
    rows = [(w["day"], "全市", w["name"], w["count"], f"{w['expected']:.1f}", f"{w['q_value']:.1g}",
             "；".join(t["summary"] or "" for t in w["tickets"][:2])) for w in ew["city"]]
    rows += [(w["day"], f"{w.get('district') or ''}{w['street'] or ''}", w["name"], w["count"], f"{w['expected']:.2f}",
              f"{w['q_value']:.1g}", "；".join(t["summary"] or "" for t in w["tickets"][:2])) for w in ew["street"]]
    parts.append(f"<h2>预警（{w0}～{until}）</h2><p class='muted'>全市：同星期几近 {ew.get('weeks', 8)} 周基线，泊松上尾；"
                 "街镇：给定当日全市该类工单数，街镇占比相对近一年占比的二项上尾；BH 校正。</p>"
                 + (_table(["日期", "范围", "类别", "当日", "期望", "q", "工单摘要"], rows, (3, 4)) if rows else "<p>无预警。</p>"))

    step("emerging topics")
    tp = T.emerging_topics(engine, until=until)
    parts.append("<h2>新兴话题</h2><p class='muted'>近 7 天 vs 此前 56 天，对数几率（Dirichlet 先验）z 值。</p>"
                 + _table(["词/短语", "z", "近期文档", "基线文档", "倍数", "相关词"],
                          [(t["term"], f"{t['z']:.1f}", t["recent"], t["baseline"], f"{t['ratio']:.1f}",
                            "、".join(t["related"][:5])) for t in tp["topics"][:12]], (1, 2, 3, 4)))

    step("departments")
    dep = C.department_rates(engine, since=since, until=until)
    worst = dep[:12]
    parts.append("<h2>承办部门</h2><p class='muted'>满意率 = (满意+基本满意)/回访；超期 = 办结晚于期限或逾期未办结；"
                 "标红 = 满意率显著低于总体（精确二项，BH）。</p>"
                 + _table(["部门", "工单", "回访", "满意率", "超期率", "q"],
                          [(_Raw(f"<span class='flag'>{escape(d['department'])}</span>") if d["flagged"] else d["department"],
                            d["tickets"], d["visited"], _pct(d["satisfied_rate"]), _pct(d["overdue_rate"]),
                            f"{d['q_low_satisfaction']:.2g}") for d in worst], (1, 2, 3, 4, 5)))

    generated = datetime.now().strftime("%Y-%m-%d %H:%M")
    return (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>12345 热线数据分析报告 {since}～{until}</title>"
            f"<style>{CSS}</style></head><body><h1>12345 热线数据分析报告</h1>"
            f"<p class='muted'>统计区间 {since} 至 {until}；生成于 {generated}。</p>{''.join(parts)}</body></html>")
