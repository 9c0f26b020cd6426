// Live updates: long-poll /changes?after=V&incidents_after=I (the inventory and incident versions the page
// shows). The server answers as soon as either is newer, with only what changed; pages patch what they show
// (``changes.inventory_changed``, ``changes.incidents_changed``: which of the two moved).
// The last update's timing (answer received -> page patched, including the requests the change made: an
// incident change's list, timeline and disk rows; and what changed: the inventory, the incidents) is kept in
// window.VSGT.lastUpdate, the last 100 in window.VSGT.updates.
import { api } from "./api.js";

// At most this many changed disks, hosts and VMs listed: a failed array port changes thousands of disks, and a
// page shows one page of them (more: ``truncated``, and the page fetches what it shows again).
const LIMIT = 50;
const listeners = [];
let version = -1;
let incidents = null;  // the incident state's version; null: not known yet, or no incidents on this server
let running = false;

export function onChange(fn) { listeners.push(fn); }
export function currentVersion() { return version; }
// The inventory version a list asks for: the one /changes told of, whose views the server built for that answer
// (a newer inventory that came meanwhile is the next change); none before the first answer.
export function pinned() { return version >= 0 ? { version } : {}; }

export function start(fromVersion, status) {
  version = fromVersion;
  if (running) return;
  running = true;
  let first = true;  // the first ask answers at once: it learns the incident version
  const loop = async () => {
    try {
      const wait = first ? 0 : 20;
      const changes = await api("changes?after=" + version + "&wait=" + wait + "&limit=" + LIMIT
        + (incidents !== null ? "&incidents_after=" + incidents : ""));
      const received = window.performance.now();
      const seen = changes.incidents_version === undefined ? null : changes.incidents_version;
      changes.inventory_changed = changes.version !== version;
      changes.incidents_changed = !first && seen !== incidents;
      version = changes.version;
      incidents = seen;
      first = false;
      if (status) status(changes);
      if (changes.inventory_changed || changes.incidents_changed) {
        for (const fn of listeners) await fn(changes);
        const applied = window.performance.now();
        window.VSGT = window.VSGT || {};
        window.VSGT.lastUpdate = { version, incidents_version: incidents, received, applied, ms: applied - received,
          inventory: changes.inventory_changed, incidents: changes.incidents_changed };
        window.VSGT.updates = (window.VSGT.updates || []).slice(-99).concat([window.VSGT.lastUpdate]);
        document.body.setAttribute("data-updated", String(version) + "/" + String(incidents));
      }
      window.setTimeout(loop, 50);
    } catch (err) {
      if (err && err.status === 401) { running = false; return; }
      if (status) status({ error: err.message || String(err) });
      window.setTimeout(loop, 3000);
    }
  };
  loop();
}
