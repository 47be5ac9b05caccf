import "./style.css";
import { api, auth, connectStream, Unauthorized } from "./api.js";
import { CandleChart, equityChart } from "./chart.js";
import { incidentsCard, refreshIncidents } from "./incidents.js";

const app = document.getElementById("app");
const state = { me: null, market: null, chart: null, equity: null, stopStream: null, timers: [] };

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child != null) el.append(child instanceof Node ? child : String(child));
  return el;
}
const $ = (sel) => document.querySelector(sel);
const fmt = (v, digits = 2) => (v == null ? "–" : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const time = (iso) => (iso ? new Date(iso).toLocaleString() : "–");

function toast(message, kind = "info") {
  const el = h("div", { class: `toast ${kind}` }, message);
  document.body.append(el);
  setTimeout(() => el.remove(), 4000);
}

async function guarded(fn) {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin("Your session ended: please log in again.");
    toast(error.message, "error");
  }
}

// ------------------------------------------------------------------ login
function showLogin(message) {
  stopAll();
  app.replaceChildren(
    h("div", { class: "login" },
      h("form", { class: "card login-card", id: "login-form", onsubmit: onLogin },
        h("div", { class: "brand big" }, h("span", { class: "logo" }, "◆"), " SMC Agent"),
        h("p", { class: "muted" }, "Smart Money Concepts trading desk"),
        message ? h("p", { class: "error" }, message) : null,
        h("label", {}, "Username", h("input", { name: "username", autocomplete: "username", required: true, autofocus: true })),
        h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
        h("button", { type: "submit", class: "primary", id: "login-button" }, "Log in"),
        h("p", { class: "error", id: "login-error" }),
      ),
    ),
  );
}

async function onLogin(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const result = await api("/v1/auth/login", { method: "POST", body: { username: form.get("username"), password: form.get("password") } });
    auth.token = result.token;
    await showDesk();
  } catch (error) {
    $("#login-error").textContent = error.message.replace(/^\d+: /, "");
  }
}

async function logout() {
  await api("/v1/auth/logout", { method: "POST" }).catch(() => {});
  auth.token = null;
  showLogin();
}

function stopAll() {
  state.stopStream?.();
  state.stopStream = null;
  state.timers.forEach(clearInterval);
  state.timers = [];
}

// ------------------------------------------------------------------ desk
async function showDesk() {
  state.me = await api("/v1/me");
  const isAdmin = state.me.role === "admin";
  app.replaceChildren(
    h("header", { class: "topbar" },
      h("div", { class: "brand" }, h("span", { class: "logo" }, "◆"), " SMC Agent"),
      h("div", { class: "badge", id: "trading-badge" }, "…"),
      h("div", { class: "badge muted", id: "venue-badge" }, "venue …"),
      h("div", { class: "badge muted", id: "stream-badge" }, "stream …"),
      h("div", { class: "spacer" }),
      h("span", { class: "muted" }, `${state.me.username} · ${state.me.role}`),
      h("button", { class: "ghost", id: "logout", onclick: logout }, "Log out"),
    ),
    h("main", { class: "grid" },
      h("section", { class: "card chart-card" },
        h("div", { class: "card-head" },
          h("h2", {}, "Chart"),
          h("select", { id: "market", onchange: (e) => loadChart(JSON.parse(e.target.value)) }),
          h("div", { class: "legend", id: "legend" },
            h("span", { class: "swatch ob-bull" }), "OB+", h("span", { class: "swatch ob-bear" }), "OB−",
            h("span", { class: "swatch fvg" }), "FVG", h("span", { class: "swatch liq" }), "Liquidity", " ▲▼ BOS / CHoCH"),
        ),
        h("div", { id: "chart", class: "chart" }),
        h("div", { class: "muted small", id: "overlay-counts" }),
      ),
      h("aside", { class: "side" },
        h("section", { class: "card", id: "control-card" },
          h("div", { class: "card-head" }, h("h2", {}, "Trading")),
          h("div", { class: "state-big", id: "trading-state" }, "…"),
          h("p", { class: "muted small", id: "trading-reason" }),
          isAdmin
            ? h("div", { class: "row" },
                h("button", { class: "danger", id: "halt-button", onclick: () => askReason("halt") }, "Halt trading"),
                h("button", { class: "primary", id: "resume-button", onclick: () => askReason("resume") }, "Resume"))
            : h("p", { class: "muted small" }, "Halt and resume need the admin role."),
        ),
        h("section", { class: "card" },
          h("div", { class: "card-head" }, h("h2", {}, "Venue & health")),
          h("div", { id: "venue" }), h("ul", { class: "deps", id: "deps" }),
        ),
        h("section", { class: "card" },
          h("div", { class: "card-head" }, h("h2", {}, "PnL")),
          h("div", { class: "kpis", id: "kpis" }),
          h("div", { id: "equity", class: "equity" }),
        ),
      ),
      isAdmin ? incidentsCard(h) : null,
      h("section", { class: "card wide" },
        h("div", { class: "tabs" },
          ...["positions", "orders", "trades", "backtests"].map((t, i) =>
            h("button", { class: i === 0 ? "tab active" : "tab", "data-tab": t, onclick: () => switchTab(t) }, t[0].toUpperCase() + t.slice(1))),
        ),
        h("div", { id: "tab-body", class: "table-scroll" }),
      ),
    ),
    h("dialog", { id: "reason-dialog" },
      h("form", { method: "dialog", id: "reason-form", onsubmit: checkReason },
        h("h3", { id: "reason-title" }),
        h("label", {}, "Reason (recorded in the audit trail)",
          h("textarea", { id: "reason-input", rows: 3, required: true, minlength: 3, oninput: () => ($("#reason-error").textContent = "") })),
        h("p", { class: "error", id: "reason-error", role: "alert" }),
        h("div", { class: "row end" },
          h("button", { value: "cancel", class: "ghost", formnovalidate: true }, "Cancel"),
          h("button", { value: "ok", class: "danger", id: "reason-confirm" }, "Confirm")),
      ),
    ),
  );
  state.chart = new CandleChart($("#chart"));
  state.equity = equityChart($("#equity"));
  state.tab = "positions";
  await Promise.all([refreshStatus(), loadMarkets(), refreshTab()]);
  state.timers.push(setInterval(() => guarded(refreshStatus), 5000));
  if (isAdmin) {
    await guarded(() => refreshIncidents(h));
    state.timers.push(setInterval(() => guarded(() => refreshIncidents(h)), 10000));
  }
  state.timers.push(setInterval(() => state.tab === "backtests" && state.backtestsBusy && guarded(refreshTab), 1500));
  state.stopStream = connectStream(onEvent, (s) => {
    const badge = $("#stream-badge");
    if (badge) { badge.textContent = `stream ${s}`; badge.className = `badge ${s === "live" ? "ok" : "muted"}`; }
  });
}

function renderTrading(trading) {
  if (state.resuming && (trading.latch == null || trading.latch === "release_failed")) {
    // the resume's verification has ended (latch cleared or failed): say how
    state.resuming = false;
    if (trading.state === "halted") toast(`Resume failed: ${trading.reason}`, "error");
    else toast(`Trading ${trading.state}`);
  }
  const halted = trading.state === "halted";
  const el = $("#trading-state");
  el.textContent = trading.state.toUpperCase();
  el.className = `state-big ${halted ? "bad" : trading.state === "active" ? "good" : "warn"}`;
  el.dataset.state = trading.state;
  $("#trading-reason").textContent = trading.reason || "";
  const badge = $("#trading-badge");
  badge.textContent = `trading ${trading.state}`;
  badge.className = `badge ${halted ? "bad" : trading.state === "active" ? "ok" : "warn"}`;
  const halt = $("#halt-button");
  const resume = $("#resume-button");
  if (halt) halt.disabled = halted;
  if (resume) resume.disabled = !halted;
}

async function refreshStatus() {
  const status = await api("/v1/status");
  renderTrading(status.trading);
  const venue = status.venue;
  $("#venue-badge").textContent = venue.ok ? `venue ${venue.active_venue}${venue.failover_active ? " (failover)" : ""}` : "venue ?";
  $("#venue").replaceChildren(
    h("div", { class: "kv" }, h("span", {}, "Active venue"), h("b", {}, venue.active_venue || "?")),
    h("div", { class: "kv" }, h("span", {}, "Failover"), h("b", { class: venue.failover_active ? "warn" : "good" }, venue.failover_active ? `ON (from ${venue.from_venue})` : "off")),
  );
  $("#deps").replaceChildren(
    ...Object.entries({ ...status.dependencies, ...status.components }).map(([name, d]) =>
      h("li", {}, h("span", { class: `dot ${d.ok ? "good" : "bad"}` }), name, h("span", { class: "muted right" }, d.latency_ms != null ? `${d.latency_ms} ms` : ""))),
  );
  if (status.pnl) {
    const p = status.pnl;
    $("#kpis").replaceChildren(
      kpi("Net PnL", fmt(p.net_pnl), Number(p.net_pnl) >= 0 ? "good" : "bad"),
      kpi("Realised", fmt(p.realized_pnl)), kpi("Fees", fmt(p.fees)),
      kpi("Open positions", p.open_positions, ""), kpi("Trades", p.trades, ""),
    );
    state.equity.setCurve((p.equity_curve || []).map((pt) => [pt.time_ms, pt.value]));
  }
}

const kpi = (label, value, cls = "") => h("div", { class: "kpi" }, h("span", { class: "muted small" }, label), h("b", { class: cls }, value));

async function loadMarkets() {
  const markets = await api("/v1/markets");
  const select = $("#market");
  select.replaceChildren(...markets.map((m) => h("option", { value: JSON.stringify(m) }, `${m.exchange} · ${m.symbol} · ${m.timeframe}`)));
  if (markets.length) await loadChart(markets[0]);
  else $("#overlay-counts").textContent = "No candles stored yet: run the data pipeline or a demo.";
}

async function loadChart(market) {
  state.market = market;
  const q = new URLSearchParams({ exchange: market.exchange, symbol: market.symbol, timeframe: market.timeframe, limit: "400" });
  const data = await api(`/v1/candles?${q}`);
  state.chart.setData(data);
  const c = state.chart.counts;
  $("#overlay-counts").textContent = data.overlays.available === false
    ? data.overlays.reason
    : `${data.candles.length} candles · ${c.order_blocks} order blocks · ${c.fvgs} FVGs · ${c.structure} BOS/CHoCH · ${c.liquidity} liquidity levels`;
  $("#chart").dataset.overlays = String(c.order_blocks + c.fvgs + c.structure + c.liquidity);
}

function onEvent(message) {
  if (message.channel === "trading_state") renderTrading(message.data);
  else if (message.channel === "venue") guarded(refreshStatus);
  else if (message.channel === "candles" && state.market) {
    const d = message.data;
    if (d.symbol === state.market.symbol && d.timeframe === state.market.timeframe) state.chart.update(d);
  } else if (["orders", "trades", "positions"].includes(message.channel)) guarded(refreshTab);
}

// ------------------------------------------------------------------ halt / resume
function askReason(action) {
  const dialog = $("#reason-dialog");
  $("#reason-title").textContent = action === "halt" ? "Halt all trading now?" : "Resume trading?";
  $("#reason-confirm").textContent = action === "halt" ? "Halt trading" : "Resume trading";
  $("#reason-confirm").className = action === "halt" ? "danger" : "primary";
  $("#reason-input").value = "";
  $("#reason-error").textContent = "";
  dialog.onclose = () => {
    if (dialog.returnValue !== "ok") return;
    const reason = $("#reason-input").value.trim();
    guarded(async () => {
      const result = await api(`/v1/control/${action}`, { method: "POST", body: { reason } });
      // a resume is only requested: the engine verifies, then trading_state (stream or poll) tells
      state.resuming = action === "resume";
      if (action === "halt") toast("Trading halted");
      else if (result.latch === "release_requested") toast("Resume requested: verifying…");
      renderTrading(result);
    });
  };
  dialog.showModal();
}

// The browser's minlength counts spaces, the API does not: a blank reason keeps the dialog open.
function checkReason(event) {
  if (event.submitter?.value !== "ok" || $("#reason-input").value.trim().length >= 3) return;
  event.preventDefault();
  $("#reason-error").textContent = "Give a reason of at least 3 characters (not counting spaces).";
  $("#reason-input").focus();
}

// ------------------------------------------------------------------ tables
function switchTab(tab) {
  state.tab = tab;
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  guarded(refreshTab);
}

function table(columns, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("table", {},
    h("thead", {}, h("tr", {}, ...columns.map(([label]) => h("th", {}, label)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...columns.map(([, get]) => h("td", {}, get(r)))))));
}

// a fee is in the currency the venue charged it in (a spot buy's: the coin bought), so it carries it
const fee = (r) => `${Number(r.fee).toLocaleString(undefined, { maximumFractionDigits: 8 })} ${r.fee_currency || ""}`.trim();
const side = (s) => h("span", { class: s === "buy" ? "good" : "bad" }, s);

async function refreshTab() {
  const body = $("#tab-body");
  if (!body) return;
  if (state.tab === "positions") {
    const page = await api("/v1/positions");
    body.replaceChildren(table([["Exchange", (r) => r.exchange], ["Symbol", (r) => r.symbol], ["Qty", (r) => fmt(r.quantity, 6)],
      ["Avg price", (r) => fmt(r.average_price)], ["Realised", (r) => fmt(r.realized_pnl)], ["Stranded", (r) => (r.stranded ? "yes" : "")]],
      page.items, "No open positions."));
  } else if (state.tab === "orders") {
    const page = await api("/v1/orders?open_only=true");
    body.replaceChildren(table([["Created", (r) => time(r.created_at)], ["Symbol", (r) => r.symbol], ["Side", (r) => side(r.side)],
      ["Type", (r) => r.type], ["Qty", (r) => fmt(r.quantity, 6)], ["Price", (r) => fmt(r.price)], ["Filled", (r) => fmt(r.filled_quantity, 6)], ["Status", (r) => r.status]],
      page.items, "No open orders."));
  } else if (state.tab === "trades") {
    const page = await api("/v1/trades?limit=50");
    body.replaceChildren(table([["Time", (r) => time(r.timestamp)], ["Exchange", (r) => r.exchange], ["Symbol", (r) => r.symbol], ["Side", (r) => side(r.side)],
      ["Qty", (r) => fmt(r.quantity, 6)], ["Price", (r) => fmt(r.price)], ["Fee", fee]], page.items, "No trades yet."));
  } else {
    await renderBacktests(body);
  }
}

async function renderBacktests(body) {
  const page = await api("/v1/backtests");
  state.backtestsBusy = page.items.some((r) => r.status === "queued" || r.status === "running");
  const form = h("form", { class: "row wrap", id: "backtest-form", onsubmit: submitBacktest },
    h("input", { name: "symbol", value: state.market?.symbol || "BTC/USDT", size: 10 }),
    h("input", { name: "timeframe", value: state.market?.timeframe || "15m", size: 4 }),
    h("select", { name: "exchange" }, h("option", {}, "binance"), h("option", {}, "bybit")),
    h("select", { name: "strategy" }, h("option", {}, "smc"), h("option", {}, "sma_cross")),
    h("button", { class: "primary", type: "submit" }, "Run backtest"));
  body.replaceChildren(form, table([["Submitted", (r) => time(r.created_at)], ["Market", (r) => `${r.parameters.symbol} ${r.parameters.timeframe}`],
    ["Strategy", (r) => r.parameters.strategy], ["Status", (r) => r.status], ["Progress", (r) => `${Math.round(r.progress * 100)}%`],
    ["Report", (r) => (r.has_report ? h("button", { class: "ghost report-open", onclick: () => openReport(r.id) }, "Open report") : r.error || "")]],
    page.items, "No backtests yet."));
}

async function submitBacktest(event) {
  event.preventDefault();
  const f = new FormData(event.target);
  await guarded(async () => {
    await api("/v1/backtests", { method: "POST", body: { symbol: f.get("symbol"), timeframe: f.get("timeframe"), exchange: f.get("exchange"), strategy: f.get("strategy") } });
    toast("Backtest queued");
    await refreshTab();
  });
}

async function openReport(id) {
  // A short-lived signed link: a new tab cannot send the bearer token.
  await guarded(async () => {
    const link = await api(`/v1/backtests/${id}/report-link`, { method: "POST" });
    window.open(link.url, "_blank", "noopener");
  });
}

// ------------------------------------------------------------------ start
if (auth.token) guarded(showDesk).catch(() => showLogin());
else showLogin();
