// A VM's summary card and monitor view: the verdict per disk with its advice and the incident behind it, the
// service level the VM is judged by, and (monitor) the whole chain, file -> datastore -> LUN -> paths on every
// host, and what the service did about the VM (its vCenter events).
import { api } from "../api.js";
import { announce, changeWords, list, objectLink, routeLink } from "../common.js";
import { el, gib, replace, time } from "../dom.js";
import { onChange } from "../live.js";
import { fromEvents, timeline } from "../timeline.js";
import { ADVICE, stateLabel, verdictLabel } from "../words.js";

function levelWords(level) {
  const source = { default: "the service's level", applied: "set by the guest", invalid: "the guest's policy was refused: " + level.message }[level.source] || level.source;
  return "at least " + level.min_working_paths + " available path" + (level.min_working_paths > 1 ? "s" : "") + " per LUN"
    + (level.min_reachable_devices ? ", " + level.min_reachable_devices + " usable disks" : "") + " (" + source + "): "
    + (level.met ? "met" : "not met, " + (level.shortfall || "storage not usable"));
}

// The open incidents behind a disk's verdict, each a link to its view: "target 52:4a:..:10 (A-ctl0-p0) since 10:02".
function behind(incidents) {
  if (!incidents || !incidents.length) return "none";
  return list(incidents, (i) => el("span", { cls: "vsgt-incident", "data-incident": i.id },
    routeLink("incident/" + i.id, i.component), " (" + i.cause + ", since " + time(i.since) + ")"));
}

function vmIncidents(vm) {
  const seen = new Map();
  for (const d of vm.disks) for (const i of d.incidents || []) seen.set(i.id, i);
  return [...seen.values()];
}

function head(vm, id) {
  const incidents = vmIncidents(vm);
  return el("div", { cls: "card vsgt-card", id, "data-verdict": vm.verdict },
    el("div", { cls: "card-block" },
      el("h2", { cls: "card-title" }, vm.name + " ", verdictLabel(vm.verdict)),
      el("p", { cls: "vsgt-small vsgt-muted" }, vm.vm + " \u00b7 " + vm.power_state + " \u00b7 on ",
        vm.host_moref ? objectLink("host", vm.host_moref, vm.host) : "?", vm.cluster ? " in " + vm.cluster : ""),
      el("p", { text: vm.explanation }),
      el("p", { cls: "vsgt-small", id: "vm-level", "data-met": String(vm.level.met) }, el("strong", { text: "Service level: " }), levelWords(vm.level)),
      vm.advice !== "none" ? el("p", { id: "vm-advice" }, el("strong", { text: "Advice: " }), ADVICE[vm.advice] || vm.advice) : null,
      incidents.length ? el("p", { id: "vm-incidents" }, el("strong", { text: "Behind its verdict: " }), behind(incidents)) : null));
}

export function summaryCard(vm) {
  return [head(vm, "vm-card"),
    el("table", { cls: "table table-compact", id: "vm-disks" }, el("caption", { cls: "clr-sr-only", text: "Disks" }),
      el("thead", null, el("tr", null, ["Disk", "Verdict", "Advice", "Incident behind it", "Datastore"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", null, vm.disks.map((d) => el("tr", { "data-disk": d.disk.label, "data-verdict": d.verdict },
        el("td", { text: d.disk.label }), el("td", null, verdictLabel(d.verdict)),
        el("td", { cls: "vsgt-small", text: ADVICE[d.advice] || d.advice }),
        el("td", { cls: "vsgt-small" }, behind(d.incidents)),
        el("td", { cls: "vsgt-small", text: d.datastores.map((ds) => ds.name).join(", ") || "-" }))))),
    el("p", null, objectLink("vm", vm.vm, "Every path of every disk \u2192"))];
}

function lunBlock(vm, lun) {
  return el("div", { cls: "vsgt-lun", "data-lun": lun.canonical_name },
    el("p", null, "LUN ", routeLink("lun/" + lun.canonical_name, lun.canonical_name), " ", lun.display_name ? "(" + lun.display_name + ") " : "",
      verdictLabel(lun.verdict), el("span", { cls: "vsgt-small vsgt-muted", text: " " + lun.media + " \u00b7 " + lun.vaai })),
    el("table", { cls: "table table-compact" }, el("caption", { cls: "clr-sr-only", text: "Paths to " + lun.canonical_name + " on every host" }),
      el("thead", null, el("tr", null, ["Host", "", "Available", "Paths", "Mount"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", null, lun.hosts.map((h) => el("tr", { "data-host": h.host, cls: h.host_moref === vm.host_moref ? "vsgt-here" : null },
        el("td", null, objectLink("host", h.host_moref, h.host)),
        el("td", { text: h.host_moref === vm.host_moref ? "VM here" : "" }),
        el("td", { text: h.available + "/" + h.total + (h.io !== null ? ", " + h.io + " I/O" : "") + (h.connected ? "" : " (host " + "not connected)") }),
        el("td", null, el("span", { cls: "vsgt-paths" }, h.paths.map((p) => el("span", { title: p.name + " target " + (p.target || "-") + (p.io ? ", carrying I/O" : "") },
          stateLabel(p.state), el("span", { cls: "vsgt-mono vsgt-small", text: " " + p.name + " " }))))),
        el("td", { text: h.mount_accessible === null ? "-" : h.mount_accessible ? "accessible" : "not accessible " + (h.mount_reason || "") }))))));
}

export function chain(vm) {
  return vm.disks.map((d) => el("section", { cls: "vsgt-disk", "data-disk": d.disk.label, "data-verdict": d.verdict, "aria-label": d.disk.label },
    el("h3", null, d.disk.label + " ", verdictLabel(d.verdict)),
    el("p", { cls: "vsgt-small vsgt-muted", text: d.disk.controller + " " + d.disk.bus + ":" + d.disk.unit + " \u00b7 " + gib(d.disk.capacity_bytes)
      + " \u00b7 " + d.disk.backing + (d.disk.uuid ? " \u00b7 uuid " + d.disk.uuid : "") }),
    el("p", null, d.explanation, el("br"), el("strong", { text: "Advice: " }), ADVICE[d.advice] || d.advice,
      d.incidents && d.incidents.length ? [el("br"), el("strong", { text: "Incident behind it: " }), behind(d.incidents)] : null),
    el("div", { cls: "vsgt-chain" },
      d.disk.files.length ? el("p", { cls: "vsgt-mono vsgt-small", text: d.disk.files.join("  \u2190  ") }) : null,
      d.datastores.map((ds) => el("p", { cls: "vsgt-small", "data-datastore": ds.name }, "Datastore ", objectLink("datastore", ds.moref, ds.name),
        " (" + ds.kind + (ds.remote ? ", " + ds.remote : "") + ") ", verdictLabel(ds.verdict),
        " mounted on " + (ds.mounts.map((m) => m.host + (m.accessible ? "" : " (" + (m.reason || "inaccessible") + ")")).join(", ") || "-"))),
      d.mapping ? el("p", { cls: "vsgt-small", "data-mapping": d.mapping.name }, "RDM mapping file on ", objectLink("datastore", d.mapping.moref, d.mapping.name),
        " ", verdictLabel(d.mapping.verdict), " (vMotion and power-on need it; I/O goes to the LUN)") : null,
      d.luns.map((lun) => lunBlock(vm, lun)))));
}

export async function vmView(root, object, page) {
  const draw = async () => {
    const vm = await api("vms/" + encodeURIComponent(object.id) + "/map");
    if (page === "vm-summary") { replace(root, summaryCard(vm)); return vm; }
    const events = await api("events?vm=" + encodeURIComponent(vm.vm) + "&limit=50").catch(() => ({ available: false, events: [] }));
    replace(root, head(vm, "vm-head"), chain(vm),
      el("h3", { text: "What vsguesttruth did about " + vm.name }),
      events.available ? timeline(fromEvents(events.events), { id: "vm-timeline", label: "vsguesttruth's actions on " + vm.name, empty: "Nothing in the last day." })
        : el("p", { text: "This server reads no vCenter events." }));
    return vm;
  };
  let vm = await draw();
  const hostsOf = (v) => new Set(v.disks.flatMap((d) => d.luns.flatMap((l) => l.hosts.map((h) => h.host_moref))));
  onChange(async (changes) => {
    const hosts = hostsOf(vm);
    if (changes.reset || changes.truncated || changes.incidents_changed || changes.vms.includes(vm.vm) || changes.hosts.some((h) => hosts.has(h.moref))) {
      announce(changeWords(changes));
      vm = await draw();
    }
  });
}
