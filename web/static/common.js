// Shared by the console pages: token login, API calls, small DOM helpers. No framework, no CDN.
"use strict";

const Hotline = (() => {
  // sessionStorage: the token is forgotten when the browser tab closes (shared workstations).
  const KEY = "hotline.token";

  function token() { return sessionStorage.getItem(KEY); }
  function setToken(t) { if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY); }

  async function api(method, path, body) {
    const opts = { method, headers: { "Authorization": "Bearer " + (token() || "") } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    if (resp.status === 401) {
      setToken(null);
      showLogin("令牌无效或已失效，请重新登录");
      const err = new Error("令牌无效或已失效");
      err.status = 401;
      throw err;
    }
    const text = await resp.text();
    const data = text ? JSON.parse(text) : null;
    if (!resp.ok) {
      const detail = data && data.detail;
      throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail || resp.statusText));
    }
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // Times are shown as Shanghai wall clock. The store sends naive Shanghai times: shown as they are.
  const SHANGHAI = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
  function fmtTime(iso) {
    if (!iso) return "";
    const s = String(iso);
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(s)) return s.replace("T", " ").slice(0, 16);
    const d = new Date(s);
    return isNaN(d) ? s : SHANGHAI.format(d);
  }

  let onLogin = null;

  function showLogin(message) {
    const box = document.getElementById("login");
    if (!box) return;
    box.hidden = false;
    document.getElementById("app").hidden = true;
    document.getElementById("login-msg").textContent = message || "";
  }

  async function tryLogin() {
    try {
      const me = await api("GET", "/api/me");
      document.getElementById("login").hidden = true;
      document.getElementById("app").hidden = false;
      const who = document.getElementById("who");
      if (who) who.textContent = `${me.name}（${me.role === "admin" ? "管理员" : "坐席"}）`;
      if (onLogin) onLogin(me);
      return true;
    } catch (e) {
      showLogin(e.status === 401 ? "令牌无效，请检查后重试" : "无法连接服务器：" + e.message);
      return false;
    }
  }

  function initLogin(callback) {
    onLogin = callback;
    document.getElementById("login-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const input = document.getElementById("token-input");
      setToken(input.value.trim());
      input.value = "";
      await tryLogin();
    });
    const logout = document.getElementById("logout");
    if (logout) logout.addEventListener("click", () => { setToken(null); location.reload(); });
    if (token()) tryLogin(); else showLogin("");
  }

  const STATE_NAMES = {
    draft: "草稿", submitted: "已提交", dispatched: "已派单", contacted: "已联系", in_progress: "办理中",
    resolved: "已办结", visited: "已回访", closed: "已关闭", returned: "已退单", merged: "已合并",
  };

  return { api, el, token, setToken, fmtTime, initLogin, showLogin, STATE_NAMES };
})();
