// What every view shares: links to vSphere objects (through the client's navigation) and to our own
// routes, which vCenter the view reads, and the polite announcement of live changes.
import { $, el, replace } from "./dom.js";
import { navigate } from "./sdk.js";
import { verdictLabel } from "./words.js";

// A link to a vSphere object: the client opens its view of it (kind: vm, host, datastore).
export function objectLink(kind, moref, text) {
  return el("a", { href: "#", cls: "vsgt-link", "data-kind": kind, "data-moref": moref, text: text || moref,
    onclick: (event) => { event.preventDefault(); navigate(kind, moref); } });
}

// A link to a route of the global view (lun/..., target/..., datastore/..., a tab): in the global view a
// hash change, elsewhere the client opens the global view with the route.
export function routeLink(route, text) {
  return el("a", { href: "#" + route, cls: "vsgt-link", "data-route": route, text,
    onclick: (event) => {
      if (document.body.getAttribute("data-page") === "global") return;  // the hash change routes
      event.preventDefault();
      navigate("route", route);
    } });
}

export function list(items, render, none) {
  if (!items || !items.length) return none === undefined ? "-" : none;
  const out = [];
  items.forEach((item, i) => { if (i) out.push(", "); out.push(render(item)); });
  return out;
}

// The line under the client's own header: which vCenter this view reads, and how fresh it is.
// role: serve's role under the single-instance lease; a standby instance shows what the active one decides.
export function setContext(about, version, updatedAt, error, role) {
  const node = $("context");
  if (!node) return;
  const vc = about && about.vcenter;
  const parts = [vc ? "vCenter " + vc.name + (vc.instance_uuid ? " (" + vc.instance_uuid + ")" : "") : "vCenter not reachable yet"];
  if (version !== undefined) parts.push("inventory v" + version);
  if (updatedAt) parts.push("as of " + new Date(updatedAt * 1000).toLocaleTimeString());
  if (role && role.role === "passive") parts.push("standby (read-only): the active instance is " + (role.holder || "not known yet"));
  replace(node, parts.join(" \u00b7 "), error ? el("span", { cls: "vsgt-error", text: " \u00b7 vCenter: " + error }) : null);
  if (vc) node.setAttribute("data-vcenter", vc.instance_uuid || vc.name);
}

// Say what changed, politely, to screen readers (one region per page: #live).
export function announce(text) {
  const node = $("live");
  if (node && text) node.textContent = text;
}

export function changeWords(changes) {
  const disks = changes.changed_disks;
  const hosts = changes.changed_hosts;
  if (!disks && !hosts && !changes.incidents_changed) return "";
  const parts = [];
  if (changes.incidents_changed) parts.push("incidents changed");
  if (disks) parts.push(disks + " disk" + (disks > 1 ? "s" : "") + " changed");
  if (hosts) parts.push(hosts + " host" + (hosts > 1 ? "s" : "") + " changed");
  return "Update: " + parts.join(", ") + ".";
}

// The host badges: what is wrong, said by name ("1 of 7 LUNs in APD"); "all paths working" when nothing is.
export function badges(host) {
  if (!host.badges || !host.badges.length) return el("span", { cls: "vsgt-ok", text: "all paths working" });
  return el("span", { cls: "vsgt-badges" }, host.badges.map((b) => verdictLabel(b.verdict, b.text)));
}
