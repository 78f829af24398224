// The mongo-ai-logs viewer: runs, a run's tree, and usage per day and model.
//
// Everything on the page is built with DOM calls and textContent: logged
// content (prompts, model output, tool results) is shown as text and never
// interpreted as HTML. The API key, when the service needs one, lives in
// sessionStorage for this tab only.
"use strict";

(function () {
  const KEY_STORAGE = "mongo-ai-logs.api-key";
  const PAGE_SIZE = 50;
  const PALETTE = [
    "#00684a", "#1f77b4", "#d62728", "#9467bd", "#ff7f0e", "#17becf",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#2ca02c", "#393b79",
  ];
  const SVG_NS = "http://www.w3.org/2000/svg";
  // A run's tree nests lists this many levels deep; the nodes below are listed
  // under the node at the last level, each marked with its level. A chain of
  // events nests as deep as it is long, and Chromium took 14 s to lay out a
  // thousand nested lists, minutes for three thousand.
  const NESTED_LEVELS = 24;

  const state = {
    who: null,
    runsCursors: [null], // cursor of each page seen, for "Newer"
    runsFilterKey: null,
    currentRun: null,
  };

  // -- small helpers -----------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, String(value));
    }
    for (const child of children) node.append(child);
    return node;
  }

  function formatNumber(n) {
    return Number(n || 0).toLocaleString("en-US");
  }

  function formatCost(n) {
    const value = Number(n || 0);
    if (value === 0) return "$0";
    if (value < 0.01) return "$" + value.toPrecision(2);
    return "$" + value.toFixed(value < 10 ? 4 : 2);
  }

  function formatDuration(ms) {
    if (ms === null || ms === undefined) return "";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
    const minutes = Math.floor(ms / 60000);
    if (minutes < 60) return minutes + " min " + Math.round((ms % 60000) / 1000) + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function formatTime(iso) {
    if (!iso) return "";
    const text = String(iso).replace("T", " ");
    return text.slice(0, 19);
  }

  function short(text, n) {
    const s = String(text);
    return s.length > n ? s.slice(0, n - 1) + "\u2026" : s;
  }

  function showNotice(message, kind) {
    const box = $("notice");
    box.textContent = message;
    box.className = "notice" + (kind === "info" ? " info" : "");
    box.hidden = !message;
  }

  // -- the API -------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || ("HTTP " + status));
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, options) {
    const opts = Object.assign({ method: "GET" }, options || {});
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.Authorization = "Bearer " + key;
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: opts.method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: "no-store",
    });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (response.status === 401) {
      showLogin(key ? "That key was refused." : "");
      throw new ApiError(401, body);
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value === null || value === undefined || value === "" || value === false) continue;
      search.append(name, String(value));
    }
    const text = search.toString();
    return text ? "?" + text : "";
  }

  // -- views and routing -------------------------------------------------------

  function showView(name) {
    for (const view of document.querySelectorAll(".view")) {
      view.hidden = view.id !== name + "-view";
    }
    for (const link of document.querySelectorAll("[data-nav]")) {
      link.classList.toggle("active", name.startsWith(link.dataset.nav));
    }
  }

  function parseHash() {
    const hash = location.hash.replace(/^#\/?/, "");
    const [path, search] = hash.split("?", 2);
    const params = new URLSearchParams(search || "");
    const parts = path.split("/");
    return { name: parts[0] || "runs", arg: parts.slice(1).join("/"), params };
  }

  async function route() {
    showNotice("");
    if (!state.who) {
      try {
        state.who = await api("/v1/whoami");
      } catch (error) {
        if (error.status !== 401) showNotice("Cannot reach the service: " + error.message);
        return;
      }
      renderWho();
    }
    const { name, arg, params } = parseHash();
    try {
      if (name === "run" && arg) await openRun(decodeURIComponent(arg));
      else if (name === "usage") await openUsage(params);
      else await openRuns(params);
    } catch (error) {
      if (error.status !== 401) showNotice(error.message);
    }
  }

  function renderWho() {
    const who = state.who;
    $("who").textContent = who.auth
      ? "project " + (who.project === null ? "(default)" : who.project) + " \u00b7 " + who.role
      : "local \u00b7 project " + (who.project === null ? "(default)" : who.project);
    $("forget-key").hidden = !who.auth;
  }

  function canWrite() {
    return state.who && (state.who.role === "write" || state.who.role === "admin");
  }

  // -- the key -------------------------------------------------------------------

  function showLogin(message) {
    state.who = null;
    $("who").textContent = "";
    $("forget-key").hidden = true;
    showView("login");
    const error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("key-input").focus();
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    $("key-input").value = "";
    route();
  });

  $("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    showLogin("");
  });

  // -- runs ----------------------------------------------------------------------

  const RUN_FILTERS = ["user_id", "session_id", "model", "type", "status", "since", "until", "include_deleted"];

  function fillForm(form, params) {
    for (const name of RUN_FILTERS) {
      const field = form.elements.namedItem(name);
      if (!field) continue;
      if (field.type === "checkbox") field.checked = params.get(name) === "true";
      else field.value = params.get(name) || "";
    }
  }

  function formParams(form) {
    const params = new URLSearchParams();
    for (const name of RUN_FILTERS) {
      const field = form.elements.namedItem(name);
      if (!field) continue;
      if (field.type === "checkbox") { if (field.checked) params.set(name, "true"); }
      else if (field.value.trim()) params.set(name, field.value.trim());
    }
    return params;
  }

  // A date field "To" includes its day: the API's until excludes its time.
  function apiFilters(params) {
    const out = {};
    for (const name of RUN_FILTERS) {
      const value = params.get(name);
      if (!value) continue;
      if (name === "until" && /^\d{4}-\d{2}-\d{2}$/.test(value)) {
        const day = new Date(value + "T00:00:00Z");
        day.setUTCDate(day.getUTCDate() + 1);
        out.until = day.toISOString().slice(0, 10);
      } else {
        out[name] = value;
      }
    }
    return out;
  }

  async function openRuns(params) {
    showView("runs");
    const form = $("run-filters");
    fillForm(form, params);
    const filters = apiFilters(params);
    const filterKey = JSON.stringify(filters);
    if (filterKey !== state.runsFilterKey) {
      state.runsFilterKey = filterKey;
      state.runsCursors = [null];
    }
    const cursor = params.get("cursor");
    let pageIndex = state.runsCursors.indexOf(cursor);
    if (pageIndex < 0) {
      state.runsCursors.push(cursor);
      pageIndex = state.runsCursors.length - 1;
    }
    const page = await api("/v1/runs" + query(Object.assign({ limit: PAGE_SIZE, cursor }, filters)));
    renderRuns(page.items);
    $("runs-page").textContent = "page " + (pageIndex + 1);
    const newer = $("runs-newer");
    newer.disabled = pageIndex === 0;
    newer.onclick = () => navigateRuns(params, state.runsCursors[pageIndex - 1]);
    const older = $("runs-older");
    older.disabled = !page.next_cursor;
    older.onclick = () => {
      state.runsCursors = state.runsCursors.slice(0, pageIndex + 1);
      state.runsCursors.push(page.next_cursor);
      navigateRuns(params, page.next_cursor);
    };
  }

  function navigateRuns(params, cursor) {
    const next = new URLSearchParams(params);
    if (cursor) next.set("cursor", cursor); else next.delete("cursor");
    const text = next.toString();
    location.hash = "#/runs" + (text ? "?" + text : "");
  }

  function renderRuns(items) {
    const body = $("runs-table").tBodies[0];
    body.replaceChildren();
    $("runs-empty").hidden = items.length > 0;
    for (const run of items) {
      const link = el("a", { href: "#/run/" + encodeURIComponent(run.run_id), className: "mono" },
        short(run.run_id, 28));
      link.title = run.run_id;
      const status = el("span", { className: "badge " + run.status, text: run.status });
      const row = el("tr", { className: "runs-row", "data-run-id": run.run_id },
        el("td", { className: "mono" }, formatTime(run.last_at)),
        el("td", {}, link),
        el("td", { className: "wrap" }, run.users.join(", ")),
        el("td", { className: "wrap mono" }, run.sessions.map((s) => short(s, 24)).join(", ")),
        el("td", { className: "wrap" }, run.models.join(", ")),
        el("td", { className: "num" }, formatNumber(run.events),
          run.deleted_events ? el("span", { className: "badge deleted", text: "+" + run.deleted_events + " deleted" }) : null),
        el("td", { className: "num" }, formatNumber(run.total_tokens)),
        el("td", { className: "num" }, formatCost(run.cost)),
        el("td", { className: "num" }, formatDuration(run.duration_ms)),
        el("td", {}, status),
      );
      row.addEventListener("click", (event) => {
        if (event.target.closest("a")) return;
        location.hash = "#/run/" + encodeURIComponent(run.run_id);
      });
      body.append(row);
    }
  }

  $("run-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    navigateRuns(formParams(event.target), null);
  });
  $("run-filters").addEventListener("reset", () => {
    setTimeout(() => navigateRuns(new URLSearchParams(), null), 0);
  });

  // -- one run -------------------------------------------------------------------

  function nodeName(node) {
    const tool = node.tool || {};
    const model = node.model || {};
    const agent = node.agent || {};
    switch (node.type) {
      case "tool_call": return tool.name || "tool";
      case "llm_call": return model.name || "llm call";
      case "message": return node.role || "message";
      case "run": return agent.name || node.name || "run";
      case "agent_step": return node.name || agent.name || "step";
      default: return node.name || node.type;
    }
  }

  async function openRun(runId) {
    showView("run");
    state.currentRun = runId;
    $("run-title").textContent = runId;
    $("run-tree").replaceChildren();
    $("run-summary").replaceChildren();
    const run = await api("/v1/runs/" + encodeURIComponent(runId) + "?include_deleted=true&payloads=false");
    if (state.currentRun !== runId) return;
    renderSummary(run.summary);
    $("run-truncated").hidden = !run.truncated;
    renderTree(run.roots, $("run-tree"));
  }

  // Without recursion, for runs of any depth.
  function renderTree(roots, container) {
    const pending = [];
    for (let i = roots.length - 1; i >= 0; i--) pending.push([roots[i], container, 0]);
    while (pending.length) {
      const [node, list, depth] = pending.pop();
      const children = node.children || [];
      const nested = depth < NESTED_LEVELS;
      const item = renderNode(node, depth, nested && children.length > 0);
      list.append(item);
      if (!children.length) continue;
      let below = list;
      if (nested) {
        below = el("ul");
        item.append(below);
      }
      for (let i = children.length - 1; i >= 0; i--) pending.push([children[i], below, depth + 1]);
    }
  }

  function renderSummary(s) {
    const list = $("run-summary");
    const rows = [
      ["First event", formatTime(s.first_at)], ["Last event", formatTime(s.last_at)],
      ["Duration", formatDuration(s.duration_ms)], ["Status", s.status],
      ["Users", s.users.join(", ")], ["Sessions", s.sessions.join(", ")],
      ["Models", s.models.join(", ")], ["Agents", s.agents.join(", ")],
      ["Events", formatNumber(s.events) + (s.deleted_events ? " (+" + s.deleted_events + " deleted)" : "")],
      ["Tokens", formatNumber(s.input_tokens) + " in \u00b7 " + formatNumber(s.output_tokens) + " out"],
      ["Cost", formatCost(s.cost)], ["Errors", formatNumber(s.errors)],
    ];
    list.replaceChildren();
    for (const [term, value] of rows) list.append(el("dt", { text: term }), el("dd", { text: value || "\u2014" }));
  }

  // One node without its children; `hasChildren` says whether it can fold them.
  function renderNode(node, depth, hasChildren) {
    const item = el("li", { className: "node" + (node.deleted ? " deleted" : ""), "data-event-id": node._id });
    const toggle = el("button", { type: "button", className: "toggle", "aria-label": "children" },
      hasChildren ? "\u25be" : "");
    toggle.disabled = !hasChildren;
    toggle.addEventListener("click", () => {
      item.classList.toggle("collapsed");
      toggle.textContent = item.classList.contains("collapsed") ? "\u25b8" : "\u25be";
    });

    const usage = node.usage || {};
    const cost = node.cost || {};
    const meta = [];
    if (node.duration_ms !== undefined && node.duration_ms !== null) meta.push(formatDuration(node.duration_ms));
    if (usage.total_tokens) meta.push(formatNumber(usage.total_tokens) + " tok");
    if (cost.total) meta.push(formatCost(cost.total));

    const actions = el("span", { className: "node-actions" });
    const payloadButton = el("button", { type: "button", className: "quiet", text: "Payload" });
    payloadButton.disabled = !(node.payload_fields && node.payload_fields.length);
    payloadButton.addEventListener("click", () => togglePayload(item, node, payloadButton));
    actions.append(payloadButton);
    if (canWrite()) {
      const change = node.deleted
        ? el("button", { type: "button", className: "quiet", text: "Restore" })
        : el("button", { type: "button", className: "danger", text: "Delete" });
      change.addEventListener("click", () => (node.deleted ? restoreEvent(node) : deleteEvent(node)));
      actions.append(change);
    }

    const row = el("div", { className: "node-row" },
      toggle,
      depth > NESTED_LEVELS ? el("span", { className: "badge", text: "level " + depth }) : null,
      el("span", { className: "badge type", text: node.type }),
      el("span", { className: "node-name", text: short(nodeName(node), 80) }),
      el("span", { className: "node-meta", text: meta.join(" \u00b7 ") }),
      node.preview ? el("span", { className: "node-preview", text: node.preview }) : null,
      node.status ? el("span", { className: "badge " + node.status, text: node.status }) : null,
      node.deleted ? el("span", { className: "badge deleted", text: "deleted" }) : null,
      actions,
    );
    item.append(row);
    if (node.error && (node.error.message || node.error.type)) {
      item.append(el("div", { className: "node-error",
        text: [node.error.type, node.error.message].filter(Boolean).join(": ") }));
    }
    return item;
  }

  async function togglePayload(item, node, button) {
    const open = item.querySelector(":scope > .payload");
    if (open) { open.remove(); return; }
    button.disabled = true;
    try {
      const event = await api("/v1/events/" + node._id + "?include_deleted=true&load_large_values=false");
      item.insertBefore(renderPayload(event), item.querySelector(":scope > ul"));
    } catch (error) {
      if (error.status !== 401) showNotice("Cannot read the payload: " + error.message);
    } finally {
      button.disabled = false;
    }
  }

  function hasOffloaded(value) {
    if (!value || typeof value !== "object") return false;
    if (value.offloaded === true && "sha256" in value) return true;
    return Object.values(value).some(hasOffloaded);
  }

  function renderPayload(event) {
    const box = el("div", { className: "payload" });
    const parts = [
      ["content", event.content], ["input", event.input], ["output", event.output],
      ["tool arguments", event.tool && event.tool.arguments], ["tool result", event.tool && event.tool.result],
      ["error", event.error], ["usage", event.usage], ["cost", event.cost], ["model", event.model],
      ["metadata", event.metadata], ["tags", event.tags], ["source", event.source],
    ];
    for (const [label, value] of parts) {
      if (value === undefined || value === null) continue;
      const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
      box.append(el("h4", { text: label }), el("pre", { text }));
    }
    box.append(el("h4", { text: "id" }), el("pre", { text: event._id }));
    if (hasOffloaded(event)) {
      const load = el("button", { type: "button", className: "quiet", text: "Load offloaded values" });
      load.addEventListener("click", async () => {
        const whole = await api("/v1/events/" + event._id + "?include_deleted=true");
        box.replaceWith(renderPayload(whole));
      });
      box.append(el("p", {}, "Some values are stored apart because they are large. ", load));
    }
    return box;
  }

  async function deleteEvent(node) {
    const reason = window.prompt("Soft-delete this " + node.type + "? Reason (optional):", "");
    if (reason === null) return;
    await changeEvent("DELETE", "/v1/events/" + node._id + query({ reason: reason || null }));
  }

  async function restoreEvent(node) {
    await changeEvent("POST", "/v1/events/" + node._id + "/restore");
  }

  async function changeEvent(method, path) {
    try {
      await api(path, { method });
      await openRun(state.currentRun);
      showNotice(method === "DELETE" ? "Event deleted. It can be restored." : "Event restored.", "info");
    } catch (error) {
      if (error.status !== 401) showNotice(error.message);
    }
  }

  function setAllCollapsed(collapsed) {
    for (const node of $("run-tree").querySelectorAll(".node")) {
      const toggle = node.querySelector(":scope > .node-row > .toggle");
      if (toggle.disabled) continue;
      node.classList.toggle("collapsed", collapsed);
      toggle.textContent = collapsed ? "\u25b8" : "\u25be";
    }
  }
  $("expand-all").addEventListener("click", () => setAllCollapsed(false));
  $("collapse-all").addEventListener("click", () => setAllCollapsed(true));

  // -- usage -------------------------------------------------------------------------

  async function openUsage(params) {
    showView("usage");
    const form = $("usage-filters");
    for (const name of ["user_id", "model", "since", "until"]) {
      form.elements.namedItem(name).value = params.get(name) || "";
    }
    const data = await api("/v1/stats/daily" + query(apiFilters(params)));
    renderUsage(data.rows);
  }

  $("usage-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const name of ["user_id", "model", "since", "until"]) {
      const value = event.target.elements.namedItem(name).value.trim();
      if (value) params.set(name, value);
    }
    const text = params.toString();
    location.hash = "#/usage" + (text ? "?" + text : "");
  });
  $("usage-filters").addEventListener("reset", () => {
    setTimeout(() => { location.hash = "#/usage"; }, 0);
  });

  function allDays(rows) {
    const days = [...new Set(rows.map((r) => r.day).filter(Boolean))].sort();
    if (days.length < 2) return days;
    const first = new Date(days[0] + "T00:00:00Z");
    const last = new Date(days[days.length - 1] + "T00:00:00Z");
    const span = Math.round((last - first) / 86400000);
    if (span > 370) return days; // too long to draw empty days between
    const out = [];
    for (let d = new Date(first); d <= last; d.setUTCDate(d.getUTCDate() + 1)) {
      out.push(d.toISOString().slice(0, 10));
    }
    return out;
  }

  function renderUsage(rows) {
    $("usage-empty").hidden = rows.length > 0;
    const models = [...new Set(rows.map((r) => r.model || "(no model)"))].sort();
    const colors = new Map(models.map((m, i) => [m, PALETTE[i % PALETTE.length]]));
    const days = allDays(rows);
    drawStacked($("chart-tokens"), days, models, colors, rows, (r) => r.total_tokens, formatNumber);
    drawStacked($("chart-cost"), days, models, colors, rows, (r) => r.cost, formatCost);

    const legend = $("chart-legend");
    legend.replaceChildren();
    for (const model of models) {
      const swatch = el("span", { className: "swatch" });
      swatch.style.background = colors.get(model);
      legend.append(el("li", {}, swatch, model));
    }

    const body = $("usage-table").tBodies[0];
    body.replaceChildren();
    for (const r of [...rows].reverse()) {
      body.append(el("tr", {},
        el("td", { className: "mono", text: r.day || "" }),
        el("td", { text: r.model || "(no model)" }),
        el("td", { className: "num", text: formatNumber(r.events) }),
        el("td", { className: "num", text: formatNumber(r.input_tokens) }),
        el("td", { className: "num", text: formatNumber(r.output_tokens) }),
        el("td", { className: "num", text: formatNumber(r.total_tokens) }),
        el("td", { className: "num", text: formatCost(r.cost) }),
      ));
    }
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (step * power >= value) return step * power;
    }
    return 10 * power;
  }

  function drawStacked(container, days, models, colors, rows, measure, format) {
    container.replaceChildren();
    if (!days.length) return;
    const totals = new Map(days.map((d) => [d, new Map()]));
    for (const r of rows) {
      const perDay = totals.get(r.day);
      if (!perDay) continue;
      const model = r.model || "(no model)";
      perDay.set(model, (perDay.get(model) || 0) + Number(measure(r) || 0));
    }
    let max = 0;
    for (const perDay of totals.values()) {
      let sum = 0;
      for (const v of perDay.values()) sum += v;
      max = Math.max(max, sum);
    }
    const top = niceMax(max);
    const left = 70, bottom = 40, height = 220;
    const barWidth = Math.max(4, Math.min(36, Math.floor(900 / days.length) - 2));
    const width = left + days.length * (barWidth + 2) + 20;
    const chart = svg("svg", { width, height: height + bottom + 10, role: "img",
      "aria-label": container.id === "chart-cost" ? "cost per day" : "tokens per day" });
    const y = (v) => 10 + height - (v / top) * height;

    for (let i = 0; i <= 4; i++) {
      const value = (top * i) / 4;
      chart.append(
        svg("line", { x1: left, x2: width - 10, y1: y(value), y2: y(value), class: "axis" }),
        svg("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end", text: format(value) }),
      );
    }
    const years = new Set(days.map((d) => d.slice(0, 4)));
    const label = (day) => (years.size > 1 ? day : day.slice(5));
    const labelEvery = Math.max(1, Math.ceil((label(days[0]).length * 7 + 10) / (barWidth + 2)));
    days.forEach((day, i) => {
      const x = left + i * (barWidth + 2);
      let base = 0;
      for (const model of models) {
        const value = totals.get(day).get(model) || 0;
        if (!value) continue;
        const rect = svg("rect", {
          x, width: barWidth, y: y(base + value), height: Math.max(1, y(base) - y(base + value)),
          fill: colors.get(model), "data-day": day, "data-model": model,
        });
        rect.append(svg("title", { text: day + " \u00b7 " + model + ": " + format(value) }));
        chart.append(rect);
        base += value;
      }
      if (i % labelEvery === 0) {
        chart.append(svg("text", { x: x + barWidth / 2, y: height + 28, "text-anchor": "middle", text: label(day) }));
      }
    });
    container.append(chart);
  }

  // -- start -----------------------------------------------------------------------

  window.addEventListener("hashchange", route);
  route();
})();
