// Open incidents (admin): priority, id, title, status, age; a row expands into its timeline.
import { api } from "./api.js";

const expanded = new Set();

export function age(iso, now = Date.now()) {
  const s = Math.max(0, Math.floor((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function incidentsCard(h) {
  return h("section", { class: "card wide", id: "incidents-card" },
    h("div", { class: "card-head" }, h("h2", {}, "Open incidents"), h("span", { class: "muted small", id: "incidents-count" })),
    h("div", { id: "incidents-body", class: "table-scroll" }, h("p", { class: "muted" }, "…")));
}

export async function refreshIncidents(h) {
  const body = document.getElementById("incidents-body");
  if (!body) return;
  const page = await api("/v1/incidents?open_only=true&limit=50");
  document.getElementById("incidents-count").textContent = page.items.length ? `${page.items.length} open` : "";
  if (!page.items.length) {
    body.replaceChildren(h("p", { class: "muted", id: "incidents-empty" }, "No open incidents."));
    return;
  }
  const rows = [];
  for (const inc of page.items) {
    const open = expanded.has(inc.id);
    rows.push(h("tr", { class: "incident-row", "data-id": inc.id },
      h("td", {}, h("span", { class: `prio ${inc.priority.toLowerCase()}` }, inc.priority)),
      h("td", { class: "mono" }, inc.id),
      h("td", {}, inc.title),
      h("td", {}, inc.status),
      h("td", { title: new Date(inc.started_at).toLocaleString() }, age(inc.started_at)),
      h("td", {}, h("button", { class: "ghost timeline-toggle", onclick: () => toggle(h, inc.id) }, open ? "Hide timeline" : "Timeline"))));
    if (open) rows.push(h("tr", { class: "timeline-row" }, h("td", { colspan: 6 }, await timeline(h, inc.id))));
  }
  body.replaceChildren(h("table", { id: "incidents-table" },
    h("thead", {}, h("tr", {}, ...["Priority", "ID", "Title", "Status", "Age", ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, ...rows)));
}

async function timeline(h, id) {
  const inc = await api(`/v1/incidents/${encodeURIComponent(id)}`);
  return h("div", { class: "timeline" },
    h("p", { class: "muted small" }, `Impact: ${inc.impact} · commander: ${inc.commander || "–"}`),
    h("ol", {}, ...inc.events.map((e) => h("li", {},
      h("span", { class: "muted" }, new Date(e.at).toLocaleTimeString()), " ",
      h("b", {}, e.kind), " ", h("span", { class: "muted" }, e.actor), " — ", e.message))));
}

async function toggle(h, id) {
  if (expanded.has(id)) expanded.delete(id);
  else expanded.add(id);
  await refreshIncidents(h);
}
