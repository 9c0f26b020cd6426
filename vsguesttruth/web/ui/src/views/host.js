// A host's monitor view: vSphere's Storage Adapters, Storage Devices and Paths tables (runtime names,
// targets, vendor, capacity, path selection policy where known), each LUN judged from this host, the
// badges naming what is wrong, and the VMs on the host (a server-side list).
import { api, query } from "../api.js";
import { announce, badges, changeWords, objectLink, routeLink } from "../common.js";
import { el, gib, replace, scroll } from "../dom.js";
import { grid } from "../grid.js";
import { onChange } from "../live.js";
import { verdictLabel } from "../words.js";
import { pathTable } from "./storage.js";

function table(id, caption, head, rows) {
  return scroll(caption, el("table", { cls: "table table-compact", id }, el("caption", { cls: "clr-sr-only", text: caption }),
    el("thead", null, el("tr", null, head.map((h) => el("th", { scope: "col", text: h })))), el("tbody", null, rows)));
}

// Remediation mode proactive-ha: the storage health vsguesttruth reports for the host to vSphere's
// Proactive HA, and what vCenter did about it (quarantine, maintenance mode).
const HEALTH = { green: "success", yellow: "warning", red: "danger", gray: "info" };

function proactiveHa(h) {
  const p = h.proactive_ha;
  const reaction = h.maintenance ? "maintenance mode" : h.quarantine ? "quarantine mode (DRS moves its VMs)" : "none";
  if (!p && !h.quarantine) return null;
  const status = p ? (p.posted || p.status) : "";
  return el("div", { id: "host-proactive-ha", "data-health": status, "data-reaction": reaction },
    el("p", null,
      el("span", { text: "Proactive HA: reported " }),
      p ? el("span", { cls: "label label-" + (HEALTH[status] || "info"), text: status || "not yet" }) : el("span", { text: "-" }),
      el("span", { cls: "vsgt-small", text: (p && p.info_id ? " " + p.info_id : "") + " \u00b7 vCenter's reaction: " + reaction })),
    p && p.remediation ? el("p", { cls: "vsgt-small", text: p.remediation }) : null);
}

function render(h, vms) {
  return [
    el("div", { cls: "card vsgt-card", id: "host-head", "data-problems": String(h.badges.length) },
      el("div", { cls: "card-block" },
        el("h2", { cls: "card-title" }, h.name),
        el("p", { cls: "vsgt-small vsgt-muted", text: h.moref + (h.cluster ? " \u00b7 cluster " + h.cluster : "") + " \u00b7 " + h.connection_state + (h.maintenance ? " \u00b7 maintenance mode" : "") + (h.quarantine ? " \u00b7 quarantine mode" : "") }),
        el("p", { id: "host-line", text: h.line }), el("div", { id: "host-badges" }, badges(h)), proactiveHa(h))),
    el("h3", { text: "Storage adapters" }),
    table("hbas", "Storage adapters", ["Adapter", "Type", "Model", "Status", "WWPN", "WWNN", "Targets", "Devices", "Paths available", "Carrying I/O"],
      h.adapters.map((a) => el("tr", { "data-hba": a.device, "data-online": String(a.online) },
        el("td", { text: a.device }), el("td", { text: a.words }), el("td", { cls: "vsgt-small", text: a.model || "-" }),
        el("td", null, a.online ? verdictLabel("healthy", a.status) : a.san ? verdictLabel("connectivity_lost", a.status) : a.status + " (a local adapter: normal)"),
        el("td", { cls: "vsgt-mono", text: a.wwpn || "-" }), el("td", { cls: "vsgt-mono", text: a.wwnn || "-" }),
        el("td", { text: String(a.targets) }), el("td", { text: String(a.devices) }),
        el("td", { text: a.paths_working + "/" + a.paths_total }), el("td", { text: String(a.paths_io) })))),
    el("h3", { text: "Storage devices" }),
    table("luns", "Storage devices", ["Device", "Name", "Verdict from this host", "Vendor / model", "Capacity", "Type", "Datastore", "Path selection policy", "Paths available", "Targets", "Why"],
      h.devices.map((d) => el("tr", { "data-lun": d.canonical_name, "data-verdict": d.verdict },
        el("td", { cls: "vsgt-mono vsgt-small" }, routeLink("lun/" + d.canonical_name, d.canonical_name)),
        el("td", { cls: "vsgt-small", text: d.display_name || "-" }), el("td", null, verdictLabel(d.verdict)),
        el("td", { cls: "vsgt-small", text: (d.vendor + " " + d.model).trim() || "-" }), el("td", { text: gib(d.capacity_bytes) }),
        el("td", { text: d.local ? "local " + d.media : d.media }), el("td", { text: d.datastore || "-" }),
        el("td", { text: d.path_selection_policy ? d.path_selection_policy + " (" + d.satp + ")" : d.claimed_by ? "claimed by " + d.claimed_by : "not reported (not claimed by NMP)" }),
        el("td", { text: d.paths_working + "/" + d.paths_total + (d.paths_io !== null ? ", " + d.paths_io + " I/O" : "") }),
        el("td", { text: String(d.targets) }), el("td", { cls: "vsgt-small", text: d.explanation })))),
    el("h3", { text: "Paths" }), pathTable("paths", h.paths, false),
    el("h3", { text: "Virtual machines on this host" }), vms.node,
  ];
}

export async function hostView(root, object) {
  const vms = grid({
    id: "host-vms", label: "VMs", caption: "Virtual machines on this host", sort: "-verdict", limit: 25,
    load: (p) => api("vms" + query({ ...p, host: object.moref })).then((r) => ({ ...r, items: r.vms })),
    rowAttrs: (v) => ({ "data-vm": v.name, "data-verdict": v.verdict }),
    columns: [
      { title: "VM", sort: "name", cell: (v) => objectLink("vm", v.moref, v.name) },
      { title: "Verdict", sort: "verdict", cell: (v) => verdictLabel(v.verdict) },
      { title: "Power", cell: (v) => v.power_state }, { title: "Disks", sort: "disks", cell: (v) => String(v.disks) },
      { title: "Why", cls: "vsgt-small", cell: (v) => v.explanation },
    ],
  });
  const draw = async () => {
    const h = await api("hosts/" + encodeURIComponent(object.id));
    replace(root, render(h, vms));
    await vms.reload();
    return h;
  };
  let shown = await draw();
  onChange(async (changes) => {
    const mine = changes.reset || changes.truncated || changes.hosts.some((x) => x.moref === shown.moref)
      || changes.disks.some((d) => d.host_moref === shown.moref) || changes.removed_disks.length;
    if (mine) { announce(changeWords(changes)); shown = await draw(); }
  });
}
