// Operator console: microphone -> websocket /ws/call -> live transcript + draft ticket form.
"use strict";

const { api, el } = Hotline;

const APPEAL_TYPES = ["咨询", "投诉", "举报", "求助", "建议", "表扬"];
const FIELDS = [
  // [name, label, kind]
  ["appeal_type", "诉求类型", "appeal"],
  ["category", "诉求分类", "category"],
  ["urgency", "紧急程度", "urgency"],
  ["district", "所在区", "text"],
  ["street", "街道/镇", "text"],
  ["road", "道路", "text"],
  ["address", "地址", "text"],
  ["landmark", "地标", "text"],
  ["company", "涉及企业", "text"],
  ["department", "承办部门", "text"],
  ["co_handler", "协办单位", "text"],
  ["caller_name", "来电人", "text"],
  ["phone", "联系电话", "text"],
  ["summary", "诉求摘要", "textarea"],
];
const LOW_CONFIDENCE = 0.6;
const FRAME_BUFFER_LIMIT = 600; // 60 s of 100-ms frames kept while the socket reconnects
const SPEAKER_NAMES = { operator: "坐席", caller: "市民" };

const state = {
  categories: [],
  ws: null, callId: null, active: false, ending: false, lastFinalId: null,
  finals: new Map(), draft: null, ticketId: null, edited: new Set(), submitted: false,
  audio: null, pending: [], reconnectTimer: null, relatedAt: 0, kbShown: "",
};

// ---------------------------------------------------------------- form
function buildForm() {
  const form = document.getElementById("ticket-form");
  form.textContent = "";
  for (const [name, label, kind] of FIELDS) {
    let input;
    if (kind === "appeal") {
      input = el("select", {}, el("option", { value: "" }, "—"), APPEAL_TYPES.map((t) => el("option", { value: t }, t)));
    } else if (kind === "category") {
      input = el("select", {}, el("option", { value: "" }, "—"),
        state.categories.map((c) => el("option", { value: c.code }, `${c.l1} / ${c.name}`)));
    } else if (kind === "urgency") {
      input = el("select", {}, el("option", { value: "" }, "—"), el("option", { value: "normal" }, "一般"),
        el("option", { value: "urgent" }, "紧急"));
    } else if (kind === "textarea") {
      input = el("textarea", { rows: 2 });
    } else {
      input = el("input", { type: "text" });
    }
    input.id = "f-" + name;
    input.name = name;
    input.addEventListener("input", () => markEdited(name));
    input.addEventListener("change", () => markEdited(name));
    const row = el("div", { class: "field", id: "row-" + name, "data-field": name },
      el("label", { for: input.id }, label), input,
      el("span", { class: "conf none", id: "conf-" + name, title: "置信度" }, "—"),
      el("div", { class: "cands", id: "cands-" + name }));
    for (const evName of ["mouseenter", "focusin"]) row.addEventListener(evName, () => highlight(name));
    for (const evName of ["mouseleave", "focusout"]) row.addEventListener(evName, () => {
      if (!row.contains(document.activeElement) || evName === "focusout") clearHighlight();
    });
    form.append(row);
  }
}

function categoryName(code) {
  const found = state.categories.find((c) => c.code === code);
  return found ? found.name : null;
}

function markEdited(name) {
  state.edited.add(name);
  document.getElementById("row-" + name).classList.add("edited");
}

function setField(name, value) {
  const input = document.getElementById("f-" + name);
  const v = value === null || value === undefined ? "" : String(value);
  if (input.tagName === "SELECT" && v && ![...input.options].some((o) => o.value === v)) {
    input.append(el("option", { value: v }, v));
  }
  input.value = v;
}

function renderDraft(ticket) {
  state.draft = ticket;
  const conf = ticket.confidence || {};
  const cands = ticket.candidates || {};
  for (const [name] of FIELDS) {
    const row = document.getElementById("row-" + name);
    if (!state.edited.has(name)) setField(name, ticket[name]);
    const badge = document.getElementById("conf-" + name);
    const c = conf[name];
    const hasValue = ticket[name] !== null && ticket[name] !== undefined && ticket[name] !== "";
    if (typeof c === "number" && hasValue) {
      badge.textContent = Math.round(c * 100) + "%";
      badge.className = "conf";
      row.classList.toggle("low", c < LOW_CONFIDENCE && !state.edited.has(name));
      badge.title = c < LOW_CONFIDENCE ? "置信度低，请与市民核实" : "置信度";
    } else {
      badge.textContent = "—";
      badge.className = "conf none";
      row.classList.remove("low");
    }
    const box = document.getElementById("cands-" + name);
    box.textContent = "";
    const list = (cands[name] || []).filter((x) => x && x.value !== undefined && x.value !== null);
    if (list.length > 1 || (list.length === 1 && list[0].value !== ticket[name])) {
      box.append(el("span", { class: "muted" }, "候选："));
      for (const cand of list.slice(0, 5)) {
        const shown = name === "category" ? (categoryName(cand.value) || cand.value) : cand.value;
        const label = `${shown}${typeof cand.confidence === "number" ? " " + Math.round(cand.confidence * 100) + "%" : ""}`;
        box.append(el("button", { type: "button", class: "cand", onclick: () => { setField(name, cand.value); markEdited(name); } }, label));
      }
    }
    if (name === "caller_name") renderNameChoice(ticket, row, box);
  }
  if (!state.storeDeadlines) showDeadline(ticket.deadlines || {}, false);
  if (Array.isArray(ticket.kb_ids) && ticket.kb_ids.length && ticket.kb_ids.join() !== state.kbShown) {
    state.kbShown = ticket.kb_ids.join();
    showKbIds(ticket.kb_ids);
  }
}

// A surname said but not spelled, with other common surnames of the same sound (何/贺): the
// operator asks 哪个字？ and clicks the one the caller names; that sets 来电人 (as an edit, so later
// drafts keep it).
function renderNameChoice(ticket, row, box) {
  const names = Array.isArray(ticket.caller_name_candidates) ? ticket.caller_name_candidates : [];
  const open = ticket.caller_name_confirmed === false && names.length > 1;
  row.classList.toggle("unconfirmed", open && !state.edited.has("caller_name"));
  if (!open) return;
  box.textContent = "";
  if (state.edited.has("caller_name")) {
    box.append(el("span", { class: "muted name-picked" }, "已确认：" + document.getElementById("f-caller_name").value));
    return;
  }
  row.classList.add("low");
  box.append(el("span", { class: "muted name-ask" }, "姓氏未确认，请问市民“哪个字？”："));
  for (const n of names.slice(0, 4)) {
    box.append(el("button", {
      type: "button", class: "cand name-cand", title: "市民确认后点选",
      onclick: () => { setField("caller_name", n); markEdited("caller_name"); renderNameChoice(ticket, row, box); },
    }, n));
  }
}

// The store's provisional deadlines (working-day calendar, Shanghai time) win over the draft's.
function showDeadline(dl, fromStore) {
  const box = document.getElementById("deadline");
  if (!dl.resolve_by && !dl.response_by) return;
  box.textContent = "";
  box.append(el("strong", {}, "可告知市民："),
    dl.response_by ? `${Hotline.fmtTime(dl.response_by)} 前首次联系；` : "",
    dl.resolve_by ? `${Hotline.fmtTime(dl.resolve_by)} 前办结` : "",
    fromStore ? "（派单后按工作日重新计算）" : "（预估）");
}

async function refreshStoreDeadlines() {
  if (!state.ticketId) return;
  try {
    const t = await api("GET", `/api/tickets/${state.ticketId}`);
    if (t.response_by || t.resolve_by) {
      state.storeDeadlines = true;
      showDeadline({ response_by: t.response_by, resolve_by: t.resolve_by }, true);
    }
  } catch (e) { /* keep the draft's estimate */ }
}

// ---------------------------------------------------------------- transcript
function segLabel(seg) {
  const spk = seg.speaker;
  return el("span", { class: "spk " + (spk || "") }, SPEAKER_NAMES[spk] || "通话");
}

function fmtSec(s) {
  const m = Math.floor(s / 60), r = Math.floor(s % 60);
  return `${m}:${String(r).padStart(2, "0")}`;
}

function addPartial(msg) {
  if (state.finals.has(msg.id)) return;
  const box = document.getElementById("segments");
  let node = document.getElementById("partial-" + msg.id);
  if (!node) {
    node = el("div", { class: "seg partial", id: "partial-" + msg.id });
    box.append(node);
  }
  node.textContent = "";
  node.append(segLabel(msg), el("span", { class: "t" }, fmtSec(msg.start || 0)), el("span", { class: "txt" }, msg.text));
  scrollTranscript();
}

function addFinal(msg) {
  const partial = document.getElementById("partial-" + msg.id);
  if (partial) partial.remove();
  if (state.finals.has(msg.id)) return; // never shown twice (resume re-sends only newer ones)
  state.finals.set(msg.id, msg);
  if (state.lastFinalId === null || msg.id > state.lastFinalId) state.lastFinalId = msg.id;
  const node = el("div", { class: "seg final", id: "seg-" + msg.id, "data-id": msg.id },
    segLabel(msg), el("span", { class: "t" }, fmtSec(msg.start || 0)), el("span", { class: "txt" }, msg.text));
  const box = document.getElementById("segments");
  // keep finals in id order, before any open partials
  const later = [...box.querySelectorAll(".seg.final")].find((n) => Number(n.dataset.id) > msg.id);
  const firstPartial = box.querySelector(".seg.partial");
  box.insertBefore(node, later || firstPartial || null);
  scrollTranscript();
}

function scrollTranscript() {
  const pane = document.getElementById("transcript");
  pane.scrollTop = pane.scrollHeight;
}

// Evidence spans are character offsets into draft.transcript, whose lines are the draft's segments.
function highlight(name) {
  clearHighlight();
  const d = state.draft;
  const span = d && d.evidence && d.evidence[name];
  if (!span || !d.transcript) return;
  const [start, end] = span;
  const lines = d.transcript.split("\n");
  const segs = d.segments || [];
  let offset = 0;
  lines.forEach((line, i) => {
    const a = Math.max(start, offset), b = Math.min(end, offset + line.length);
    const seg = segs[i];
    if (b > a && seg) {
      const node = document.querySelector(`#seg-${seg.id} .txt`);
      if (node) {
        node.dataset.original = node.textContent;
        node.textContent = "";
        node.append(line.slice(0, a - offset), el("mark", { class: "evidence" }, line.slice(a - offset, b - offset)),
          line.slice(b - offset));
        node.closest(".seg").scrollIntoView({ block: "nearest" });
      }
    }
    offset += line.length + 1;
  });
}

function clearHighlight() {
  for (const node of document.querySelectorAll(".seg .txt[data-original]")) {
    node.textContent = node.dataset.original;
    delete node.dataset.original;
  }
}

// ---------------------------------------------------------------- audio
async function startAudio() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: { ideal: 2 } },
  });
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule("/static/pcm-worklet.js");
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "pcm-capture", { numberOfInputs: 1, numberOfOutputs: 1 });
  const mute = ctx.createGain();
  mute.gain.value = 0; // the graph must reach the destination to be pulled; nothing is played
  source.connect(node).connect(mute).connect(ctx.destination);
  const level = document.querySelector("#level > div");
  let done = null;
  node.port.onmessage = (ev) => {
    if (ev.data.done) { if (done) done(); return; }
    sendFrame(ev.data.pcm);
    level.style.width = Math.min(100, Math.round(ev.data.peak * 140)) + "%";
  };
  state.audio = {
    ctx, stream, node, inputRate: ctx.sampleRate,
    stop: () => new Promise((resolve) => {
      done = resolve;
      node.port.postMessage("stop");
      setTimeout(resolve, 1000); // the worklet acknowledges; do not hang if it does not
    }).then(() => { stream.getTracks().forEach((t) => t.stop()); ctx.close(); level.style.width = "0"; }),
  };
}

function sendFrame(buffer) {
  const ws = state.ws;
  if (ws && ws.readyState === WebSocket.OPEN && ws.ready) {
    while (state.pending.length) ws.send(state.pending.shift());
    ws.send(buffer);
  } else {
    state.pending.push(buffer);
    if (state.pending.length > FRAME_BUFFER_LIMIT) state.pending.shift();
  }
}

// ---------------------------------------------------------------- websocket
function status(text) { document.getElementById("call-status").textContent = text; }

function connect(resume) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/call?token=${encodeURIComponent(Hotline.token())}`);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onopen = () => {
    const hello = { type: "hello", sample_rate: 16000, channels: 1, language: "zh" };
    if (state.callId) hello.call_id = state.callId;
    if (resume && state.callId) hello.resume_from = state.lastFinalId === null ? -1 : state.lastFinalId;
    ws.send(JSON.stringify(hello));
  };
  ws.onmessage = (ev) => onMessage(ws, JSON.parse(ev.data));
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (state.active || (state.ending && !state.finalReceived)) {
      status("连接中断，正在重连…");
      state.reconnectTimer = setTimeout(() => connect(true), 1000);
    }
  };
}

function onMessage(ws, msg) {
  switch (msg.type) {
    case "ready":
      ws.ready = true;
      state.callId = msg.call_id;
      if (msg.ticket_id) setTicketId(msg.ticket_id);
      document.getElementById("call-id").textContent = "通话编号 " + msg.call_id;
      status(state.ending ? "等待最终工单…" : (msg.resumed ? "已恢复连接，通话中" : "通话中"));
      while (state.pending.length) ws.send(state.pending.shift());
      if (state.ending && !msg.ended) ws.send(JSON.stringify({ type: "end" }));
      break;
    case "partial": addPartial(msg); break;
    case "final": addFinal(msg); break;
    case "ticket": setTicketId(msg.ticket_id); break;
    case "draft":
      if (msg.ticket_id) setTicketId(msg.ticket_id);
      renderDraft(msg.ticket);
      if (msg.final) onFinalDraft(msg);
      else { maybeRelated(); if (!state.storeDeadlines) refreshStoreDeadlines(); }
      break;
    case "error":
      console.warn("server error", msg);
      if (msg.code === "replaced") { state.ws = null; status("该通话已在其他窗口恢复"); }
      else status(`错误：${msg.message}`);
      break;
  }
}

function setTicketId(id) {
  if (!id || state.ticketId === id) return;
  state.ticketId = id;
  document.getElementById("ticket-ref").textContent = "工单号 " + id;
  document.getElementById("submit-ticket").disabled = state.submitted;
}

function onFinalDraft(msg) {
  state.finalReceived = true;
  state.ending = false;
  const t = (msg.ticket.timings || {}).ready_after_hangup_s;
  status(`通话已结束，工单草稿已生成${typeof t === "number" ? `（挂机后 ${t.toFixed(1)} 秒）` : ""}`);
  document.getElementById("start-call").disabled = false;
  maybeRelated(true);
  refreshStoreDeadlines();
  if (state.ws) state.ws.close();
  state.ws = null;
}

async function startCall() {
  resetCall();
  document.getElementById("start-call").disabled = true;
  status("正在打开麦克风…");
  try {
    await startAudio();
  } catch (e) {
    status("无法打开麦克风：" + e.message);
    document.getElementById("start-call").disabled = false;
    return;
  }
  state.active = true;
  document.getElementById("stop-call").disabled = false;
  status("连接服务器…");
  connect(false);
}

async function stopCall() {
  if (!state.active) return;
  document.getElementById("stop-call").disabled = true;
  status("挂机，等待最终工单…");
  const audio = state.audio;
  state.audio = null;
  if (audio) await audio.stop(); // the last partial frame is sent first
  state.active = false;
  state.ending = true;
  const ws = state.ws;
  if (ws && ws.readyState === WebSocket.OPEN && ws.ready) {
    while (state.pending.length) ws.send(state.pending.shift());
    ws.send(JSON.stringify({ type: "end" }));
  } // otherwise the reconnect sends end after its ready
}

function resetCall() {
  clearTimeout(state.reconnectTimer);
  Object.assign(state, { callId: null, lastFinalId: null, finals: new Map(), draft: null, ticketId: null,
    edited: new Set(), submitted: false, pending: [], ending: false, finalReceived: false, kbShown: "",
    storeDeadlines: false });
  document.getElementById("deadline").textContent = "时限：通话中预估，派单后按工作日计算";
  document.getElementById("segments").textContent = "";
  document.getElementById("ticket-ref").textContent = "";
  document.getElementById("call-id").textContent = "";
  document.getElementById("submit-msg").textContent = "";
  document.getElementById("submit-ticket").disabled = true;
  document.getElementById("related-list").textContent = "";
  buildForm();
}

// ---------------------------------------------------------------- submit
async function submitTicket() {
  const msgBox = document.getElementById("submit-msg");
  msgBox.className = "";
  try {
    if (!state.ticketId && state.callId) {
      const call = await api("GET", "/api/calls/" + encodeURIComponent(state.callId));
      setTicketId(call.ticket_id);
    }
    if (!state.ticketId) throw new Error("工单尚未生成，请稍候");
    const fields = {};
    for (const [name] of FIELDS) {
      const value = document.getElementById("f-" + name).value.trim();
      const original = state.draft ? state.draft[name] : null;
      if (state.edited.has(name) || (value && value !== (original ?? ""))) fields[name] = value || null;
    }
    const ticket = await api("POST", `/api/tickets/${state.ticketId}/submit`, { fields });
    state.submitted = true;
    document.getElementById("submit-ticket").disabled = true;
    msgBox.textContent = `已提交：工单 ${ticket.id}（${Hotline.STATE_NAMES[ticket.state] || ticket.state}）`;
    msgBox.dataset.state = ticket.state;
  } catch (e) {
    msgBox.className = "error";
    msgBox.textContent = "提交失败：" + e.message;
  }
}

// ---------------------------------------------------------------- side panels
async function maybeRelated(force) {
  if (!state.ticketId) return;
  const now = Date.now();
  if (!force && now - state.relatedAt < 5000) return;
  state.relatedAt = now;
  try {
    const items = await api("GET", `/api/tickets/${state.ticketId}/related`);
    const list = document.getElementById("related-list");
    list.textContent = "";
    if (!items.length) list.append(el("li", { class: "muted" }, "未发现相关工单"));
    for (const t of items) {
      list.append(el("li", {}, el("div", { class: "title" }, `#${t.id} ${t.summary || ""}`),
        el("div", { class: "sub" }, `${(t.reasons || []).join("、")} · ${Hotline.STATE_NAMES[t.state] || t.state} · ${Hotline.fmtTime(t.created_at)}`)));
    }
  } catch (e) { /* related is a hint; the call goes on */ }
}

function renderKb(items) {
  const list = document.getElementById("kb-list");
  list.textContent = "";
  if (!items.length) list.append(el("li", { class: "muted" }, "无结果"));
  for (const a of items) {
    list.append(el("li", {}, el("div", { class: "title" }, `${a.id || ""} ${a.title || ""}`),
      a.answer ? el("div", { class: "kb-answer" }, a.answer) : null));
  }
}

async function searchKb() {
  const q = document.getElementById("kb-q").value.trim();
  if (!q) return;
  try { renderKb(await api("GET", "/api/kb?q=" + encodeURIComponent(q))); }
  catch (e) { renderKb([]); }
}

async function showKbIds(ids) {
  const found = [];
  for (const id of ids.slice(0, 3)) {
    try { found.push(await api("GET", "/api/kb/" + encodeURIComponent(id))); } catch (e) { found.push({ id }); }
  }
  renderKb(found);
}

async function searchCompanies() {
  const q = document.getElementById("co-q").value.trim();
  if (!q) return;
  const list = document.getElementById("co-list");
  list.textContent = "";
  try {
    const items = await api("GET", "/api/companies?q=" + encodeURIComponent(q));
    if (!items.length) list.append(el("li", { class: "muted" }, "无结果"));
    for (const c of items) {
      list.append(el("li", {},
        el("div", { class: "title" }, c.name || c.value || ""),
        el("div", { class: "sub" }, [c.short_name, c.district, c.address, c.credit_code].filter(Boolean).join(" · ")),
        el("button", { type: "button", onclick: () => { setField("company", c.name); markEdited("company"); } }, "填入工单")));
    }
  } catch (e) { list.append(el("li", { class: "muted" }, "搜索失败：" + e.message)); }
}

// ---------------------------------------------------------------- start
async function init() {
  try { state.categories = await api("GET", "/api/categories"); } catch (e) { state.categories = []; }
  buildForm();
  document.getElementById("start-call").addEventListener("click", startCall);
  document.getElementById("stop-call").addEventListener("click", stopCall);
  document.getElementById("submit-ticket").addEventListener("click", submitTicket);
  document.getElementById("kb-go").addEventListener("click", searchKb);
  document.getElementById("kb-q").addEventListener("keydown", (e) => { if (e.key === "Enter") searchKb(); });
  document.getElementById("co-go").addEventListener("click", searchCompanies);
  document.getElementById("co-q").addEventListener("keydown", (e) => { if (e.key === "Enter") searchCompanies(); });
}

let started = false;
Hotline.initLogin(() => { if (!started) { started = true; init(); } });
