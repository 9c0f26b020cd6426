// The storage views: one LUN, one datastore, one target port (array port): which hosts, paths and VMs use
// it. Rendered in the global view (#lun/..., #datastore/..., #target/...) and in a datastore's monitor view.
import { api } from "../api.js";
import { list, objectLink, routeLink } from "../common.js";
import { el, gib, scroll } from "../dom.js";
import { stateLabel, verdictLabel } from "../words.js";

function table(id, caption, head, rows, empty) {
  return scroll(caption, el("table", { cls: "table table-compact", id },
    el("caption", { cls: "clr-sr-only", text: caption }),
    el("thead", null, el("tr", null, head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", null, rows.length ? rows : el("tr", null, el("td", { colspan: head.length, cls: "vsgt-empty", text: empty || "None." })))));
}

export function vmTable(vms) {
  return table("vms", "Virtual machines", ["VM", "Host", "Verdict", "Disks"], vms.map((v) =>
    el("tr", { "data-vm": v.name, "data-verdict": v.verdict },
      el("td", null, objectLink("vm", v.moref, v.name)), el("td", null, v.host_moref ? objectLink("host", v.host_moref, v.host) : "-"),
      el("td", null, verdictLabel(v.verdict)), el("td", { text: v.disks.join(", ") }))), "No VM has a disk here.");
}

export function pathTable(id, paths, withHost) {
  const head = [...(withHost ? ["Host"] : []), "Runtime name", "Adapter", "Target (WWPN / IQN)", "Target node", "Array port", "LUN", "State", "ALUA"];
  return table(id, "Paths", head, paths.map((p) => el("tr", { "data-path": p.runtime_name, "data-state": p.state, "data-host": p.host || null },
    withHost ? el("td", null, objectLink("host", p.host_moref, p.host)) : null,
    el("td", { cls: "vsgt-mono", text: p.runtime_name }), el("td", { text: p.hba }),
    el("td", { cls: "vsgt-mono" }, p.target ? routeLink("target/" + p.target, p.target) : "-"),
    el("td", { cls: "vsgt-mono", text: p.target_node || "not collected" }),
    el("td", { text: p.port_name || "not known" }),
    el("td", { cls: "vsgt-mono" }, routeLink("lun/" + p.lun, p.lun_display || p.lun)),
    el("td", null, stateLabel(p.state)), el("td", { text: p.alua_state || "-" }))));
}

function facts(pairs) {
  return el("dl", { cls: "vsgt-facts" }, pairs.filter((p) => p).map(([k, v]) => [el("dt", { text: k }), el("dd", null, v)]));
}

export async function lunView(name) {
  const lun = await api("luns/" + encodeURIComponent(name));
  return el("div", { id: "lun-view", "data-verdict": lun.verdict },
    el("h2", null, "LUN ", el("span", { cls: "vsgt-mono", text: lun.canonical_name }), " ", verdictLabel(lun.verdict)),
    facts([["Name", lun.display_name || "-"], ["Vendor / model", (lun.vendor || "-") + " " + (lun.model || "")],
      ["Capacity", gib(lun.capacity_bytes)], ["Datastores", list(lun.datastores, (d) => d)],
      ["Seen by", lun.hosts + " host(s), " + lun.paths_working + "/" + lun.paths_total + " paths working"],
      ["Target ports", list(lun.targets, (t) => routeLink("target/" + t, t))]]),
    el("h3", { text: "On every host" }),
    table("lun-hosts", "The LUN on every host", ["Host", "Verdict", "Paths working", "Why"], lun.per_host.map((h) =>
      el("tr", { "data-host": h.host, "data-verdict": h.verdict }, el("td", null, objectLink("host", h.host_moref, h.host)),
        el("td", null, verdictLabel(h.verdict)), el("td", { text: h.paths_working + "/" + h.paths_total }),
        el("td", { cls: "vsgt-small", text: h.explanation })))),
    el("h3", { text: "Paths" }), pathTable("lun-paths", lun.per_host.flatMap((h) => h.paths.map((p) => ({ ...p, host: h.host, host_moref: h.host_moref }))), true),
    el("h3", { text: "Virtual machines on it" }), vmTable(lun.vms));
}

export async function datastoreView(ref) {
  const ds = await api("datastores/" + encodeURIComponent(ref));
  return el("div", { id: "datastore-view", "data-verdict": ds.verdict },
    el("h2", null, "Datastore " + ds.name + " ", verdictLabel(ds.verdict)),
    facts([["Type", ds.kind + (ds.remote ? " (" + ds.remote + ")" : "")], ["Capacity", gib(ds.capacity_bytes) + (ds.free_bytes ? ", " + gib(ds.free_bytes) + " free" : "")],
      ["Extents", list(ds.extents, (x) => routeLink("lun/" + x, x))], ["Mounted on", ds.accessible_on + " of " + ds.hosts + " hosts accessible"]]),
    el("h3", { text: "Mounts" }),
    table("mounts", "Mounts", ["Host", "Mounted", "Accessible", "Reason"], ds.mounts.map((m) =>
      el("tr", { "data-host": m.host, "data-accessible": String(m.accessible) }, el("td", null, objectLink("host", m.host_moref, m.host)),
        el("td", { text: m.mounted ? "yes" : "no" }), el("td", null, m.accessible ? "yes" : verdictLabel("all_paths_down", "not accessible")),
        el("td", { text: m.reason || "-" })))),
    el("h3", { text: "Virtual machines on it" }), vmTable(ds.vms));
}

export async function targetView(wwpn) {
  const t = await api("targets/" + encodeURIComponent(wwpn));
  return el("div", { id: "target-view", "data-dead": String(t.paths_dead) },
    el("h2", null, "Target port ", el("span", { cls: "vsgt-mono", text: t.target })),
    facts([["Array port", t.port_name || "not known (vCenter reports the WWPN only)"], ["Target node", t.node_name || "not collected"],
      ["Paths", t.paths_working + "/" + t.paths_total + " working" + (t.paths_dead ? ", " + t.paths_dead + " dead" : "")],
      ["Hosts", list(t.host_list, (h) => objectLink("host", h.moref, h.name))], ["LUNs", list(t.lun_list, (l) => routeLink("lun/" + l, l))]]),
    el("h3", { text: "Paths through it" }), pathTable("target-paths", t.paths, true),
    el("h3", { text: "Virtual machines behind it" }), vmTable(t.vms));
}
