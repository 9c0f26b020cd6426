// The global view, incident-first: the open incidents (what failed, since when, what it hits, what the
// service did), the timeline of incidents and of the service's actions, the single points of failure, then
// the verdict tiles (each a filter of the disk table) and the disk table (sorted, filtered, searched and
// paged on the server); tabs for every incident, hosts with badges that name what is wrong, LUNs,
// datastores, target ports, and what the service did (vCenter events). Tabs and detail views are routes of
// the URL fragment (#hosts, #lun/naa..., #incident/<id>), or the route the client passes (navigateTo's
// customData).
import { api, query } from "../api.js";
import { announce, badges, changeWords, list, objectLink, routeLink } from "../common.js";
import { $, el, gib, replace } from "../dom.js";
import { grid } from "../grid.js";
import { onChange, pinned } from "../live.js";
import { navigationData } from "../sdk.js";
import { fromEvents, timeline } from "../timeline.js";
import { VERDICTS, ADVICE, icon, verdictLabel, VERDICT } from "../words.js";
import { auditGrid, incidentGrid, incidentTimeline, incidentView } from "./incidents.js";
import { datastoreView, lunView, targetView } from "./storage.js";

// The tabs; "incidents" has its place and shows once the server offers incidents.
const TABS = [
  { id: "disks", title: "Overview" }, { id: "incidents", title: "Incidents", feature: "incidents" },
  { id: "hosts", title: "Hosts" }, { id: "luns", title: "LUNs" }, { id: "datastores", title: "Datastores" },
  { id: "targets", title: "Target ports" }, { id: "activity", title: "Activity" },
];
const TICK_MS = 10000;
const AUDIT_MS = 60000;
const DETAIL = { lun: "luns", datastore: "datastores", target: "targets", incident: "incidents" };

export function globalView(root, about) {
  const features = about.features || {};
  const tabs = TABS.filter((t) => !t.feature || features[t.feature]);
  const filter = { verdict: null, all: false };
  let counts = null;  // disks per verdict: from the disk table's answers and the live feed
  const tiles = el("div", { cls: "vsgt-tiles", id: "counts", role: "group", "aria-label": "Disks by verdict: choose one to filter the table" });
  const headline = el("h2", { id: "headline", cls: "vsgt-headline" });
  const panel = el("div", { id: "panel", role: "tabpanel" });
  const nav = el("ul", { cls: "nav", role: "tablist", id: "tabs", "aria-label": "Storage truth views" });
  let current = null;  // {tab, refresh()}

  const disks = grid({
    id: "disks", label: "disks", caption: "Virtual disks", sort: "-verdict", search: "VM, host, datastore, LUN, target\u2026",
    empty: "No disk matches.", load: (p) => api("disks" + query(diskQuery(p))).then((r) => { counts = r.counts; drawTiles(); return r; }),
    rowAttrs: (d) => ({ "data-vm": d.vm, "data-disk": d.disk, "data-verdict": d.verdict, "data-sla-met": String(d.sla_met) }),
    columns: [
      { title: "VM", sort: "vm", cell: (d) => objectLink("vm", d.vm_moref, d.vm) },
      { title: "Disk", sort: "disk", cell: (d) => d.disk + " (" + d.controller + " " + d.bus + ":" + d.unit + ")" },
      { title: "Verdict", sort: "verdict", cell: (d) => verdictLabel(d.verdict) },
      { title: "Service level", cell: (d) => (d.sla_met ? "met" : verdictLabel("below_sla", "not met")) },
      { title: "Host", sort: "host", cell: (d) => (d.host_moref ? objectLink("host", d.host_moref, d.host) : "-") },
      { title: "Datastore", sort: "datastore", cell: (d) => list(d.datastore_morefs.map((m, i) => [m, d.datastores[i]]), ([m, n]) => objectLink("datastore", m, n)) },
      { title: "LUN", sort: "lun", cls: "vsgt-mono vsgt-small", cell: (d) => list(d.luns, (l) => routeLink("lun/" + l, l)) },
      { title: "Why", cls: "vsgt-small", cell: (d) => d.explanation },
      { title: "Advice", cls: "vsgt-small", cell: (d) => ADVICE[d.advice] || d.advice },
      ...(features.incidents ? [{ title: "Incident", cls: "vsgt-small", cell: (d) => list(d.incidents, (i) => routeLink("incident/" + i, i)) }] : []),
    ],
  });
  function diskQuery(p) {
    return { ...p, ...pinned(), verdict: filter.verdict ? [filter.verdict] : [], unhealthy: !filter.verdict && !filter.all };
  }
  const allToggle = el("div", { cls: "clr-checkbox-wrapper vsgt-all" },
    el("input", { type: "checkbox", id: "show-all", cls: "clr-checkbox", onchange: (e) => { filter.all = e.target.checked; filter.verdict = null; drawTiles(); disks.reload(); } }),
    el("label", { for: "show-all", cls: "clr-control-label", text: "Show healthy disks too" }));

  function drawTiles() {
    if (!counts) return;
    const total = VERDICTS.reduce((n, v) => n + (counts[v] || 0), 0);
    const bad = total - (counts.healthy || 0);
    replace(tiles, VERDICTS.map((v) => el("button", {
      type: "button", cls: "vsgt-tile t-" + v, "data-verdict": v, "aria-pressed": String(filter.verdict === v),
      onclick: () => { filter.verdict = filter.verdict === v ? null : v; drawTiles(); select("disks"); disks.setFilters({}); },
    }, el("span", { cls: "n", text: String(counts[v] || 0) }), el("span", { cls: "label-text" }, icon(VERDICT[v].shape), " " + VERDICT[v].word))));
    headline.textContent = bad ? bad + " of " + total + " virtual disks need attention" : "All " + total + " virtual disks are healthy";
    headline.setAttribute("data-bad", String(bad));
    $("show-all") && ($("show-all").checked = filter.all && !filter.verdict);
  }

  const simpleGrid = (id, label, path, sort, columns, rowAttrs, search) => grid({
    id, label, caption: label, sort, columns, rowAttrs, search, load: (p) => api(path + query(p)).then((r) => ({ ...r, items: r.items || r.hosts })),
  });
  const hostColumns = [
    { title: "Host", sort: "name", cell: (h) => objectLink("host", h.moref, h.name) },
    { title: "Cluster", sort: "cluster", cell: (h) => h.cluster || "-" },
    { title: "What is wrong", sort: "problems", cell: (h) => badges(h) },
    { title: "Paths", sort: "paths", cls: "vsgt-small", cell: (h) => h.line },
    { title: "VMs", sort: "vms", cell: (h) => String(h.vms) },
  ];
  const hostRow = (h) => ({ "data-host": h.name, "data-problems": String(h.badges.length) });
  const hosts = simpleGrid("hosts", "hosts", "hosts", "name", hostColumns, hostRow, "host, cluster, problem\u2026");
  const troubled = grid({  // on the first tab: only the hosts with something wrong, worst first
    id: "problem-hosts", label: "hosts with a problem", caption: "Hosts with a problem", sort: "-problems", limit: 25,
    search: false, empty: "Every path of every host works.", columns: hostColumns, rowAttrs: hostRow,
    load: (p) => api("hosts" + query({ ...p, ...pinned(), problems: true })).then((r) => ({ ...r, items: r.hosts })),
  });
  const luns = simpleGrid("luns", "LUNs", "luns", "-verdict", [
    { title: "LUN", sort: "name", cls: "vsgt-mono", cell: (l) => routeLink("lun/" + l.canonical_name, l.canonical_name) },
    { title: "Verdict (worst host)", sort: "verdict", cell: (l) => verdictLabel(l.verdict) },
    { title: "Vendor", cell: (l) => (l.vendor + " " + l.model).trim() || "-" },
    { title: "Capacity", cell: (l) => gib(l.capacity_bytes) },
    { title: "Datastores", cell: (l) => l.datastores.join(", ") || "-" },
    { title: "Hosts", sort: "hosts", cell: (l) => String(l.hosts) },
    { title: "Paths available", cell: (l) => l.paths_working + "/" + l.paths_total },
    { title: "Disks", sort: "disks", cell: (l) => String(l.disks) },
  ], (l) => ({ "data-lun": l.canonical_name, "data-verdict": l.verdict }));
  const datastores = simpleGrid("datastores", "datastores", "datastores", "-verdict", [
    { title: "Datastore", sort: "name", cell: (d) => objectLink("datastore", d.moref, d.name) },
    { title: "Verdict (worst disk)", sort: "verdict", cell: (d) => verdictLabel(d.verdict) },
    { title: "Type", sort: "kind", cell: (d) => d.kind },
    { title: "Accessible on", cell: (d) => d.accessible_on + " of " + d.hosts + " hosts" },
    { title: "Capacity", cell: (d) => gib(d.capacity_bytes) },
    { title: "Disks", sort: "disks", cell: (d) => String(d.disks) },
    { title: "Details", cell: (d) => routeLink("datastore/" + d.moref, "paths and VMs") },
  ], (d) => ({ "data-datastore": d.name, "data-verdict": d.verdict }));
  const targets = simpleGrid("targets", "target ports", "targets", "-dead", [
    { title: "Target port", sort: "target", cls: "vsgt-mono", cell: (t) => routeLink("target/" + t.target, t.target) },
    { title: "Array port", cell: (t) => t.port_name || "not named" },
    { title: "Dead paths", sort: "dead", cell: (t) => (t.paths_dead ? verdictLabel("connectivity_lost", t.paths_dead + " of " + t.paths_total + " dead") : t.paths_working + "/" + t.paths_total + " available") },
    { title: "Hosts", cell: (t) => String(t.hosts) }, { title: "LUNs", cell: (t) => String(t.luns) },
    { title: "Disks", sort: "disks", cell: (t) => String(t.disks) },
  ], (t) => ({ "data-target": t.target, "data-dead": String(t.paths_dead) }));

  // incidents (when the server keeps them): open ones on the overview, every one on their tab
  const openIncidents = features.incidents ? incidentGrid({ id: "open-incidents", label: "open incidents", caption: "Open incidents",
    state: "open", limit: 10, search: false, empty: "No open incident: every component works." }) : null;
  const allIncidents = features.incidents ? incidentGrid({ id: "incidents", label: "incidents", caption: "Incidents, open and resolved" }) : null;
  const findings = features.incidents ? auditGrid({ id: "audit", limit: 10 }) : null;
  const recent = el("div", { id: "timeline-box" });
  let auditAt = 0;  // the audit (what one more failure would hit) is a planning view: read again once a minute
  const audit = () => { auditAt = Date.now(); return findings.reload(); };
  const drawTimeline = () => incidentTimeline(recent, 20);

  async function activity() {
    const answer = await api("events?limit=200");
    return el("div", null, el("h2", { text: "What vsguesttruth did (vCenter events, last 24 hours)" }),
      answer.available ? timeline(fromEvents(answer.events), { id: "activity-timeline", label: "vsguesttruth's actions" })
        : el("p", { text: "This server reads no vCenter events." }));
  }

  const panels = {
    disks: () => ({
      node: el("div", null, headline,
        features.incidents ? [el("h2", { text: "Open incidents" }), openIncidents.node,
          el("h2", { text: "Timeline: incidents and what the service did" }), recent,
          el("h2", { text: "Single points of failure" }), findings.node] : null,
        el("h2", { text: "Virtual disks" }), tiles, el("div", { cls: "vsgt-grid-filters" }, allToggle), disks.node,
        el("h2", { text: "Hosts with a problem" }), troubled.node),
      // a live change reloads only what it touches: the inventory's the disks and hosts, the incidents' their
      // list, the timeline and the disks' incident column (the audit is read again once a minute)
      refresh: (changes) => Promise.all([
        !changes || changes.reset || changes.inventory_changed || changes.incidents_changed ? disks.reload() : null,
        !changes || changes.reset || changes.inventory_changed ? troubled.reload() : null,
        ...(features.incidents && (!changes || changes.reset || changes.incidents_changed)
          ? [openIncidents.reload(), drawTimeline(), changes ? null : audit()] : [])]),
      tick: features.incidents ? () => Promise.all([openIncidents.reload(), drawTimeline(),
        Date.now() - auditAt > AUDIT_MS ? audit() : null]) : null,
    }),
    hosts: () => ({ node: hosts.node, refresh: () => hosts.reload() }),
    luns: () => ({ node: luns.node, refresh: () => luns.reload() }),
    datastores: () => ({ node: datastores.node, refresh: () => datastores.reload() }),
    targets: () => ({ node: targets.node, refresh: () => targets.reload() }),
    activity: () => ({ ...detail(activity), tick: true }),
    incidents: () => (allIncidents ? { node: allIncidents.node, refresh: () => allIncidents.reload() }
      : { node: el("p", { text: "Incidents are not available on this server." }), refresh: () => null }),
  };

  function detail(render) {
    const box = el("div", { cls: "vsgt-detail" });
    const refresh = async () => {
      try { replace(box, await render()); } catch (err) { replace(box, el("p", { cls: "vsgt-error", role: "alert", text: err.message })); }
    };
    return { node: box, refresh };
  }

  function select(tab) {
    for (const button of nav.querySelectorAll("[role=tab]")) {
      const on = button.getAttribute("data-tab") === tab;
      button.classList.toggle("active", on);
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
    }
  }

  function route() {
    const hash = decodeURIComponent((window.location.hash || "").replace(/^#/, ""));
    const [head, ...rest] = hash.split("/");
    const arg = rest.join("/");
    if (DETAIL[head] && arg) {
      select(DETAIL[head]);
      const render = { lun: () => lunView(arg), datastore: () => datastoreView(arg), target: () => targetView(arg), incident: () => incidentView(arg) }[head];
      current = detail(async () => el("div", null,
        el("nav", { cls: "vsgt-crumbs", "aria-label": "Breadcrumb" }, routeLink(DETAIL[head], tabs.find((t) => t.id === DETAIL[head]).title), " \u203a ", arg),
        await render()));
      if (head === "incident") current.tick = true;
    } else {
      const tab = tabs.some((t) => t.id === head) ? head : "disks";
      select(tab);
      current = panels[tab]();
    }
    replace(panel, current.node);
    return current.refresh();
  }

  replace(nav, tabs.map((t) => el("li", { role: "presentation", cls: "nav-item" },
    el("button", { type: "button", role: "tab", cls: "btn btn-link nav-link", id: "tab-" + t.id, "data-tab": t.id, "aria-controls": "panel",
      onclick: () => { window.location.hash = t.id; } }, t.title))));
  replace(root, nav, panel);
  drawTiles();
  window.addEventListener("hashchange", route);
  const passed = navigationData();
  if (passed && passed.route && !window.location.hash) window.location.hash = passed.route;
  route();

  // What the service does lives in vCenter's events, not in the inventory the live feed follows: the views
  // that show it read it again every few seconds while the page is visible.
  window.setInterval(() => {
    if (!current || !current.tick || document.visibilityState === "hidden") return;
    (current.tick === true ? current.refresh() : current.tick()).catch(() => null);
  }, TICK_MS);

  onChange(async (changes) => {
    counts = changes.counts;
    drawTiles();
    if (changes.reset || changes.changed_disks || changes.changed_hosts || changes.incidents_changed) {
      announce(changeWords(changes));
      await current.refresh(changes);
    }
  });
}
