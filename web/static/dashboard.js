// Mining dashboard: one request per analysis (/api/mining/*), charts by the vendored echarts.
"use strict";

(() => {
  const { api, el } = Hotline;
  const charts = {};
  const $ = (id) => document.getElementById(id);

  function chart(id) {
    if (!charts[id]) charts[id] = echarts.init($(id));
    return charts[id];
  }
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));

  function qs(params) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
    const s = p.toString();
    return s ? "?" + s : "";
  }

  function table(headers, rows, numeric = []) {
    return el("table", { class: "rank" },
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((v, i) =>
        v instanceof Node ? el("td", {}, v) : el("td", { class: numeric.includes(i) ? "n" : null, text: v ?? "" }))))));
  }

  const pct = (v) => (v === null || v === undefined ? "" : (100 * v).toFixed(1) + "%");
  const day = (d) => (d || "").slice(0, 10);

  async function section(name, fn) {
    try { await fn(); } catch (e) { $("status").textContent = `${name}: ${e.message}`; }
  }

  async function load() {
    const since = $("since").value, until = $("until").value;
    const win = { since, until };
    $("status").textContent = "加载中…";
    $("report-link").dataset.path = "/api/mining/report" + qs(win);
    await Promise.all([
      section("summary", async () => {
        const s = await api("GET", "/api/mining/summary");
        $("kpi").replaceChildren(
          el("div", {}, el("b", { text: s.tickets.toLocaleString() }), "工单总数"),
          el("div", {}, el("b", { text: `${s.first || "-"} ~ ${s.last || "-"}` }), "数据区间"));
      }),
      section("volume", async () => {
        const r = await api("GET", "/api/mining/counts" + qs({ ...win, by: "category", grain: "week", level: "l1" }));
        const weeks = [...new Set(r.rows.map((x) => x.period))].sort();
        const l1 = [...new Set(r.rows.map((x) => x.category))];
        const idx = Object.fromEntries(weeks.map((w, i) => [w, i]));
        const series = l1.map((c) => {
          const data = new Array(weeks.length).fill(0);
          r.rows.filter((x) => x.category === c).forEach((x) => { data[idx[x.period]] = x.n; });
          return { name: c, type: "line", stack: "all", areaStyle: {}, symbol: "none", data };
        });
        chart("chart-volume").setOption({ tooltip: { trigger: "axis" }, legend: { type: "scroll", top: 0 },
          grid: { left: 50, right: 20, top: 36, bottom: 30 }, xAxis: { type: "category", data: weeks },
          yAxis: { type: "value" }, series }, true);
      }),
      section("categories", async () => {
        const r = await api("GET", "/api/mining/counts" + qs({ ...win, by: "category" }));
        const top = r.rows.sort((a, b) => b.n - a.n).slice(0, 15).reverse();
        chart("chart-categories").setOption({ tooltip: {}, grid: { left: 150, right: 30, top: 10, bottom: 20 },
          xAxis: { type: "value" }, yAxis: { type: "category", data: top.map((x) => x.name) },
          series: [{ type: "bar", data: top.map((x) => x.n), itemStyle: { color: "#2f6fb0" } }] }, true);
      }),
      section("trends", async () => {
        const r = await api("GET", "/api/mining/trends" + qs({ until, mode: "yoy" }));
        const rows = r.rows.filter((x) => x.change_pct !== null).slice(0, 20).reverse();
        chart("chart-trends").setOption({
          tooltip: { formatter: (p) => rows[p.dataIndex].statement },
          grid: { left: 150, right: 40, top: 10, bottom: 20 }, xAxis: { type: "value", axisLabel: { formatter: "{value}%" } },
          yAxis: { type: "category", data: rows.map((x) => x.name) },
          series: [{ type: "bar", data: rows.map((x) => ({ value: +x.change_pct.toFixed(1),
            itemStyle: { color: x.direction === "fell" ? "#b03a48" : x.direction === "rose" ? "#2f6fb0" : "#c8ccd2" } })) }],
        }, true);
      }),
      section("warnings", async () => {
        const end = until || undefined;
        const start = until ? new Date(Date.parse(until) - 13 * 86400e3).toISOString().slice(0, 10) : undefined;
        const r = await api("GET", "/api/mining/warnings" + qs({ since: start, until: end }));
        if (!until && r.days.length) {
          const first = new Date(Date.parse(r.days[0]) - 13 * 86400e3).toISOString().slice(0, 10);
          Object.assign(r, await api("GET", "/api/mining/warnings" + qs({ since: first, until: r.days[0] })));
        }
        const rows = [...r.city.map((w) => ({ ...w, scope: "全市" })),
          ...r.street.map((w) => ({ ...w, scope: `${w.district || ""}${w.street || ""}` }))]
          .sort((a, b) => (a.day < b.day ? 1 : -1));
        $("warnings").replaceChildren(rows.length ? table(["日期", "范围", "类别", "当日", "期望", "q", "工单"],
          rows.map((w) => [w.day, w.scope, w.name, w.count, w.expected.toFixed(2), w.q_value.toExponential(1),
            el("details", {}, el("summary", { text: `${w.tickets.length} 件` }),
              el("ul", {}, w.tickets.slice(0, 10).map((t) => el("li", { text: `#${t.id} ${t.created_at.slice(11, 16)} ${t.summary || ""}` }))))]),
          [3, 4]) : el("p", { class: "muted", text: "无预警" }));
      }),
      section("risk", async () => {
        const r = await api("GET", "/api/mining/risk-points" + qs({ limit: 100 }));
        const d = Object.entries(r.by_district).reverse();
        chart("chart-risk").setOption({ tooltip: {}, grid: { left: 80, right: 20, top: 10, bottom: 20 },
          xAxis: { type: "value" }, yAxis: { type: "category", data: d.map((x) => x[0]) },
          series: [{ type: "bar", data: d.map((x) => x[1]), itemStyle: { color: "#d9822b" } }] }, true);
        $("risk").replaceChildren(
          el("p", { class: "muted", text: `${r.total} 个风险点，汛期 ${r.seasons.join("、")}；最近一个汛期不再积水：${r.fell.length} 处` }),
          table(["#", "地点", "街镇", "各汛期", "积水天数", "工单"], r.points.map((p) => [p.rank, p.place_key, p.street,
            Object.entries(p.seasons).map(([s, n]) => `${s}:${n}`).join(" "), p.days, p.n]), [0, 4, 5]));
        mapScatter(r.points);
      }),
      section("hotspots", async () => {
        const r = await api("GET", "/api/mining/hotspots" + qs({ ...win, limit: 50 }));
        $("hotspots").replaceChildren(table(["地点", "类别", "工单", "天数", "最近"],
          r.rows.map((h) => [h.place_key, h.name, h.n, h.days, day(h.last)]), [2, 3]));
      }),
      section("topics", async () => {
        const r = await api("GET", "/api/mining/topics" + qs({ until }));
        $("topics").replaceChildren(table(["词/短语", "z", "近期", "基线", "相关词"],
          r.topics.map((t) => [t.term, t.z.toFixed(1), t.recent, t.baseline, t.related.slice(0, 4).join("、")]), [1, 2, 3]));
      }),
      section("departments", async () => {
        const r = await api("GET", "/api/mining/departments" + qs(win));
        $("departments").replaceChildren(table(["部门", "工单", "满意率", "超期率"],
          r.rows.map((d) => [d.flagged ? el("span", { class: "flag", text: d.department }) : d.department, d.tickets,
            pct(d.satisfied_rate), pct(d.overdue_rate)]), [1, 2, 3]));
      }),
    ]);
    if ($("status").textContent === "加载中…") $("status").textContent = "";
  }

  async function mapScatter(points) {
    const districts = await api("GET", "/api/mining/districts");
    const counts = {};
    points.forEach((p) => { counts[p.district] = (counts[p.district] || 0) + 1; });
    const data = districts.map((d) => ({ name: d.name, value: [d.centre[1], d.centre[0], counts[d.name] || 0] }));
    chart("chart-map").setOption({
      tooltip: { formatter: (p) => `${p.name}: ${p.value[2]} 个风险点` },
      grid: { left: 50, right: 20, top: 10, bottom: 30 },
      xAxis: { type: "value", name: "经度", min: 121.0, max: 122.0 }, yAxis: { type: "value", name: "纬度", min: 30.6, max: 31.8 },
      series: [{ type: "scatter", data, symbolSize: (v) => 8 + 4 * Math.sqrt(v[2]),
        label: { show: true, formatter: (p) => p.name, position: "right", fontSize: 11 }, itemStyle: { color: "#d9822b" } }],
    }, true);
  }

  // the report needs the bearer token, which a plain link would not send: fetch it, open a blob
  $("report-link").addEventListener("click", async (ev) => {
    ev.preventDefault();
    const win = window.open("", "_blank");
    try {
      const resp = await fetch(ev.target.dataset.path, { headers: { "Authorization": "Bearer " + (Hotline.token() || "") } });
      if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
      const url = URL.createObjectURL(new Blob([await resp.text()], { type: "text/html" }));
      if (win) win.location = url; else location.href = url;
    } catch (e) {
      if (win) win.close();
      $("status").textContent = "报告: " + e.message;
    }
  });
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  Hotline.initLogin(() => load());
})();
