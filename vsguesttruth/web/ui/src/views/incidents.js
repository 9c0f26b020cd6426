// Incidents on screen: the list (open ones first: the failed component, since when, what it hits, what the
// service did), the timeline of incidents opening and resolving and of the service's actions, the audit of
// single points of failure, and one incident's own view (#incident/<id>): its evidence, every disk it hit
// with the verdict then and now, what the service did and what remediation would do now.
import { api, query } from "../api.js";
import { list, objectLink, routeLink } from "../common.js";
import { el, replace, scroll, time } from "../dom.js";
import { grid } from "../grid.js";
import { pinned } from "../live.js";
import { timeline } from "../timeline.js";
import { verdictLabel } from "../words.js";

export const KIND_WORDS = {
  path: "path", hba: "host bus adapter", target: "array target port", controller: "array controller", lun: "LUN",
  datastore: "datastore", fabric: "SAN fabric", host: "host",
};

// "42 s", "7 min", "3.5 h", "2.1 days"
export function span(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return s + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  if (s < 129600) return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " days";
}

const plural = (n, one, many) => n + " " + (n === 1 ? one : many || one + "s");

export function hitWords(i) {
  return plural(i.host_count, "host") + ", " + plural(i.vm_count, "VM") + ", " + plural(i.disk_count, "disk");
}

function stateLabel(i) {
  return i.state === "open" ? verdictLabel(i.worst === "healthy" ? "degraded" : i.worst, "open: " + i.cause)
    : verdictLabel("healthy", "resolved" + (i.merged_into ? " (now part of " + i.merged_into + ")" : ""));
}

// How long it has lasted: an open one until now (the browser's clock), a resolved one as the server says.
function lasted(i) {
  return i.state === "open" ? span((Date.now() - Date.parse(i.since)) / 1000) : span(i.duration_s);
}

// The component as people call it, with the array's own port name when vCenter's name lacks it.
export function componentName(i) {
  const port = i.detail && i.detail.port_name;
  return port && !i.component.includes(port) ? i.component + " (" + port + ")" : i.component;
}

function sinceCell(i) {
  return [el("time", { datetime: i.since, text: time(i.since) }),
    el("span", { cls: "vsgt-small vsgt-muted", text: (i.state === "open" ? " \u00b7 for " : " \u00b7 lasted ") + lasted(i) })];
}

const COLUMNS = [
  { title: "Failed component", sort: "kind", cell: (i) => [routeLink("incident/" + i.id, componentName(i)), el("br"),
    el("span", { cls: "vsgt-small vsgt-muted", text: KIND_WORDS[i.kind] || i.kind })] },
  { title: "State", sort: "worst", cell: stateLabel },
  { title: "Since", sort: "since", cell: sinceCell },
  { title: "Hit", sort: "disks", cell: (i) => [hitWords(i), el("br"), el("span", { cls: "vsgt-small vsgt-muted", text: i.hosts.slice(0, 4).join(", ") + (i.host_count > 4 ? ", \u2026" : "") })] },
  { title: "What the service did", cls: "vsgt-small", cell: (i) => i.done || (i.state === "open" ? "nothing yet" : "nothing") },
];

// options: id, label, state ("open" or ""), limit, search
export function incidentGrid(options) {
  return grid({
    id: options.id, label: options.label, caption: options.caption || options.label, sort: "state", limit: options.limit || 25,
    search: options.search === undefined ? "component, host, VM, LUN\u2026" : options.search,
    empty: options.empty || "No incident.", columns: COLUMNS, clock: true,
    rowAttrs: (i) => ({ "data-incident": i.id, "data-kind": i.kind, "data-state": i.state }),
    load: (p) => api("incidents" + query({ ...p, ...pinned(), state: options.state ? [options.state] : [], compact: true })),
  });
}

const AUDIT_WORDS = {
  hba: "one HBA", port: "one array port", controller: "one array controller", fabric: "one fabric",
  mount: "missing from hosts", drift: "path-count drift", replica: "no replica", rdm: "RDM behind one path",
};

export function auditGrid(options) {
  return grid({
    id: options.id, label: "single points of failure", caption: "Single points of failure", sort: "-disks",
    limit: options.limit || 10, search: options.search === undefined ? "component, VM, host, datastore\u2026" : options.search,
    empty: "No single point of failure: every healthy disk survives any one failure.",
    rowAttrs: (f) => ({ "data-finding": f.key, "data-kind": f.kind }),
    columns: [
      { title: "Component", sort: "component", cell: (f) => f.component },
      { title: "Kind", sort: "kind", cell: (f) => AUDIT_WORDS[f.kind] || f.kind },
      { title: "Why", cls: "vsgt-small", cell: (f) => f.why },
      { title: "Disks it would hit", sort: "disks", cell: (f) => String(f.disk_count) },
      { title: "VMs", sort: "vms", cell: (f) => [String(f.vm_count), f.vms.length ? el("span", { cls: "vsgt-small vsgt-muted", text: " (" + f.vms.slice(0, 3).join(", ") + (f.vm_count > 3 ? ", \u2026" : "") + ")" }) : null] },
    ],
    load: (p) => api("audit" + query({ ...p, compact: true })),
  });
}

// The incidents' timeline items (newest last from the API) as the timeline's items.
const TIMELINE_TITLE = { opened: "incident opened", resolved: "incident resolved" };
export function timelineItems(items) {
  return items.map((t) => ({
    time: t.time, kind: t.kind, route: "incident/" + t.incident, incident: t.incident,
    title: t.kind in TIMELINE_TITLE ? TIMELINE_TITLE[t.kind] + " (" + (KIND_WORDS[t.incident_kind] || t.incident_kind) + ")"
      : (t.vm_name ? t.vm_name + ": " : "") + t.kind,
    text: t.message.replace(/^vsguesttruth: /, ""),
  }));
}

// The newest ``limit`` items of the incidents' timeline, drawn into ``box`` unless they are those drawn there
// already (a live change reads it again with everything it may touch); an error is said there instead.
const drawnIn = new WeakMap();  // box -> the items drawn in it, as JSON
export async function incidentTimeline(box, limit, id) {
  let answer;
  try {
    answer = await api("incidents/timeline" + query({ limit: limit || 30, ...pinned() }));
  } catch (err) {
    replace(box, el("p", { cls: "vsgt-error", text: err.message }));
    drawnIn.delete(box);
    return;
  }
  const json = JSON.stringify(answer.items);
  if (drawnIn.get(box) === json) return;
  replace(box, timeline(timelineItems(answer.items), { id: id || "incident-timeline", label: "Incidents and the service's actions",
    empty: "No incident and no action in the last day." }));
  drawnIn.set(box, json);
}

function table(id, caption, head, rows, empty) {
  return scroll(caption, el("table", { cls: "table table-compact", id },
    el("caption", { cls: "clr-sr-only", text: caption }),
    el("thead", null, el("tr", null, head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", null, rows.length ? rows : el("tr", null, el("td", { colspan: head.length, cls: "vsgt-empty", text: empty || "None." })))));
}

function facts(pairs) {
  return el("dl", { cls: "vsgt-facts" }, pairs.filter((p) => p).map(([k, v]) => [el("dt", { text: k }), el("dd", null, v)]));
}

function adviceRows(advice) {
  return advice.flatMap((a) => [...(a.moves || []), ...(a.refusals || [])]).map((d) => el("li", { "data-vm": d.vm_name, "data-moves": String(!!d.moves) },
    el("strong", { text: d.vm_name + ": " }),
    d.moves ? "would " + d.action.replace("_", " ") + (d.to_host_name ? " to " + d.to_host_name : "") + (d.to_datastore_name ? " (" + d.to_datastore_name + ")" : "") + ": " + d.why
      : "not moving: " + d.why));
}

export async function incidentView(id) {
  const i = await api("incidents/" + encodeURIComponent(id));
  const actions = i.actions.map((a) => ({ time: a.time, kind: a.kind, title: (a.vm_name ? a.vm_name + ": " : "") + a.kind,
    text: a.message.replace(/^vsguesttruth: /, "") }));
  actions.push({ time: i.since, kind: "opened", title: "incident opened", text: i.line });
  if (i.resolved_at) actions.push({ time: i.resolved_at, kind: "resolved", title: "incident resolved", text: i.line });
  const advice = adviceRows(i.advice || []);
  const hostNames = Object.fromEntries(i.host_list.map((h) => [h.moref, h.name]));
  return el("div", { id: "incident-view", "data-state": i.state, "data-kind": i.kind },
    el("h2", null, componentName(i) + " ", stateLabel(i)),
    el("p", { id: "incident-line", text: i.line }),
    facts([["Incident", el("span", { cls: "vsgt-mono", text: i.id })], ["Failed component", (KIND_WORDS[i.kind] || i.kind) + ": " + componentName(i)],
      ["Cause", i.cause], ["Since", [el("time", { datetime: i.since, text: time(i.since) }), " (" + (i.since_from === "events" ? "from the hosts' storage events" : "when the watch saw it") + ")"]],
      i.resolved_at ? ["Resolved", [el("time", { datetime: i.resolved_at, text: time(i.resolved_at) }), " after " + lasted(i)]] : ["Open for", lasted(i)],
      ["Hit", hitWords(i)], ["Hosts", list(i.host_list, (h) => [objectLink("host", h.moref, h.name), " (" + plural(h.disks, "disk") + ")"])],
      ["LUNs", list(i.luns, (l) => routeLink("lun/" + l, l))], ["Datastores", list(i.datastores, (d) => d)],
      i.detail.target ? ["Target port", routeLink("target/" + i.detail.target, i.detail.target + (i.detail.port_name ? " (" + i.detail.port_name + ")" : ""))] : null]),
    el("h3", { text: "What the service did" }),
    timeline(actions, { id: "incident-actions", label: "What the service did about " + i.component }),
    i.state === "open" ? [el("h3", { text: "What remediation would do now" }),
      advice.length ? el("ul", { id: "incident-advice", cls: "list-unstyled vsgt-small" }, advice)
        : el("p", { id: "incident-advice", cls: "vsgt-muted", text: "Nothing to move: no VM it hits calls for a move, or this server runs without remediation." })] : null,
    el("h3", { text: "Virtual disks it hit" }),
    table("incident-hits", "Virtual disks it hit", ["VM", "Disk", "Host when hit", "Verdict when hit", "Verdict now", "Host now", "Why"],
      i.hits.map((h) => el("tr", { "data-vm": h.vm, "data-disk": h.disk, "data-verdict": h.verdict || "gone" },
        el("td", null, objectLink("vm", h.vm_moref, h.vm)), el("td", { text: h.disk }),
        el("td", null, objectLink("host", h.host_moref, h.host)),
        el("td", null, h.verdict_when_hit ? verdictLabel(h.verdict_when_hit) : "-"),
        el("td", null, h.verdict ? verdictLabel(h.verdict) : "disk gone"),
        el("td", { text: h.host_now || "-" }), el("td", { cls: "vsgt-small", text: h.explanation }))),
      "No virtual disk: the failure hits no VM (evidence only)."),
    el("h3", { text: "Evidence" + (i.evidence_total > i.evidence_items.length ? " (the first " + i.evidence_items.length + " of " + i.evidence_total + ")" : "") }),
    table("incident-evidence", "Evidence", ["Host", "What", "LUN", "State", "Kind"], i.evidence_items.map((s) =>
      el("tr", { "data-host": s.host, "data-state": s.state }, el("td", { text: hostNames[s.host] || s.host }), el("td", { cls: "vsgt-mono", text: s.what }),
        el("td", { cls: "vsgt-mono vsgt-small", text: s.lun || "-" }), el("td", { text: s.state }), el("td", { text: s.kind })))));
}
