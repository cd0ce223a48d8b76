// Ticket list: state, department, deadlines (overdue marked) and the lifecycle actions.
"use strict";

const { api, el, STATE_NAMES } = Hotline;

let categoryNames = {};

// Which buttons a ticket gets is decided by the server (`allowed` = lifecycle targets).
const ACTIONS = [
  // [target state, label, handler]
  ["submitted", "提交", (t) => api("POST", `/api/tickets/${t.id}/submit`, {})],
  ["dispatched", "派单", (t) => {
    const dept = prompt("承办部门", t.department || "");
    if (dept === null) return null;
    return api("POST", `/api/tickets/${t.id}/dispatch`, { department: dept || null });
  }],
  ["contacted", "先行联系", (t) => api("POST", `/api/tickets/${t.id}/transition`, { to: "contacted" })],
  ["in_progress", "办理中", (t) => api("POST", `/api/tickets/${t.id}/transition`, { to: "in_progress" })],
  ["resolved", "办结", (t) => api("POST", `/api/tickets/${t.id}/transition`, { to: "resolved" })],
  ["visited", "回访", (t) => {
    const s = prompt("回访满意度：满意 / 基本满意 / 不满意", "满意");
    if (!s) return null;
    return api("POST", `/api/tickets/${t.id}/follow-up`, { satisfaction: s.trim() });
  }],
  ["returned", "退单", (t) => {
    const note = prompt("退单理由");
    if (!note) return null;
    return api("POST", `/api/tickets/${t.id}/transition`, { to: "returned", note });
  }],
  ["closed", "关闭", (t) => t.state === "submitted"
    ? api("POST", `/api/tickets/${t.id}/direct-answer`, {})
    : api("POST", `/api/tickets/${t.id}/transition`, { to: "closed" })],
  ["merged", "合并", (t) => {
    const into = prompt("合并到工单号");
    if (!into) return null;
    return api("POST", `/api/tickets/${t.id}/merge`, { into: Number(into) });
  }],
];

function message(text, isError) {
  const box = document.getElementById("ticket-msg");
  box.textContent = text;
  box.className = isError ? "error" : "";
}

async function runAction(ticket, handler, label) {
  try {
    const result = await handler(ticket);
    if (result === null) return;
    message(`工单 ${ticket.id}：${label}完成（${STATE_NAMES[result.state] || result.state}）`);
    await load();
  } catch (e) {
    message(`工单 ${ticket.id}：${label}失败：${e.message}`, true);
  }
}

function row(t) {
  const overdue = (t.overdue || []).length > 0;
  const stateCell = el("td", {}, el("span", { class: `badge state-${t.state}` }, STATE_NAMES[t.state] || t.state));
  if (overdue) {
    stateCell.append(" ", el("span", { class: "badge overdue", title: t.overdue.join(",") },
      t.overdue.includes("resolve") ? "办结超时" : "联系超时"));
  }
  if (t.warning) stateCell.append(" ", el("span", { class: "badge warning" }, "预警"));
  if (t.supervised) stateCell.append(" ", el("span", { class: "badge warning" }, "督办"));
  const actions = el("div", { class: "actions" });
  for (const [target, label, handler] of ACTIONS) {
    if ((t.allowed || []).includes(target)) {
      actions.append(el("button", { type: "button", "data-action": target, onclick: () => runAction(t, handler, label) }, label));
    }
  }
  return el("tr", { class: overdue ? "overdue" : "", "data-id": t.id, "data-state": t.state },
    el("td", {}, String(t.id)),
    stateCell,
    el("td", {}, [t.appeal_type, categoryNames[t.category] || t.category].filter(Boolean).join(" · ")),
    el("td", {}, t.district || ""),
    el("td", {}, t.department || ""),
    el("td", {}, Hotline.fmtTime(t.response_by)),
    el("td", {}, Hotline.fmtTime(t.resolve_by)),
    el("td", {}, t.summary || ""),
    el("td", {}, actions));
}

async function load() {
  const params = new URLSearchParams({ limit: "200" });
  const st = document.getElementById("flt-state").value;
  if (st) params.set("state", st);
  if (document.getElementById("flt-overdue").checked) params.set("overdue", "true");
  const text = document.getElementById("flt-text").value.trim();
  if (text) params.set("text", text);
  const data = await api("GET", "/api/tickets?" + params);
  const body = document.getElementById("rows");
  body.textContent = "";
  for (const t of data.items) body.append(row(t));
  document.getElementById("count").textContent = `共 ${data.total} 条`;
}

async function init() {
  const select = document.getElementById("flt-state");
  for (const [k, v] of Object.entries(STATE_NAMES)) select.append(el("option", { value: k }, v));
  try {
    for (const c of await api("GET", "/api/categories")) categoryNames[c.code] = c.name;
  } catch (e) { categoryNames = {}; }
  document.getElementById("flt-go").addEventListener("click", load);
  document.getElementById("flt-text").addEventListener("keydown", (e) => { if (e.key === "Enter") load(); });
  select.addEventListener("change", load);
  document.getElementById("flt-overdue").addEventListener("change", load);
  await load();
}

let started = false;
Hotline.initLogin(() => { if (!started) { started = true; init().catch((e) => message(e.message, true)); } });
