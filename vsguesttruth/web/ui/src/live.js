// Live updates: long-poll /changes?after=V (the inventory version the page shows). The server answers as
// soon as vCenter's inventory is newer, with only what changed; pages patch what they show.
import { api } from "./api.js";

const listeners = [];
let version = -1;
let running = false;

export function onChange(fn) { listeners.push(fn); }
export function currentVersion() { return version; }

export function start(fromVersion, status) {
  version = fromVersion;
  if (running) return;
  running = true;
  const loop = async () => {
    try {
      const changes = await api("changes?after=" + version + "&wait=20");
      const newer = changes.version !== version;
      version = changes.version;
      if (status) status(changes);
      if (newer) for (const fn of listeners) await fn(changes);
      window.setTimeout(loop, 200);
    } catch (err) {
      if (err && err.status === 401) { running = false; return; }
      if (status) status({ error: err.message || String(err) });
      window.setTimeout(loop, 3000);
    }
  };
  loop();
}
