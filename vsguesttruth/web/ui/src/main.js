// The plugin's pages: one bundle; <body data-page=...> says which view this is. The view reads which
// vCenter this service watches (GET /about) and refuses, saying why, to show an object of another vCenter
// of an Enhanced Linked Mode group (whose morefs could name a different object here).
import "./icons.js";
import { ApiError, api, takeFragmentToken, useSession } from "./api.js";
import { setContext } from "./common.js";
import { $, alert, replace } from "./dom.js";
import { onChange, start } from "./live.js";
import { contextObject, followTheme, initialize, sessionToken, setServerGuid } from "./sdk.js";
import { globalView } from "./views/global.js";
import { hostView } from "./views/host.js";
import { moveView } from "./views/move.js";
import { datastoreView } from "./views/storage.js";
import { vmView } from "./views/vm.js";

const KIND = { "vm-summary": "VM", "vm-monitor": "VM", move: "VM", "host-monitor": "host", "datastore-monitor": "datastore" };

function fail(root, err) {
  if (err instanceof ApiError && err.status === 401) { replace(root); return; }
  replace(root, alert("danger", err && err.message ? err.message : String(err), { id: "error" }));
}

async function run() {
  followTheme();
  useSession(await sessionToken());
  const page = document.body.getAttribute("data-page");
  const root = $("content");
  let about;
  try {
    about = await api("about");
  } catch (err) { fail(root, err); return; }
  const vc = about.vcenter || {};
  setServerGuid(vc.instance_uuid);
  setContext(about, about.inventory_version, about.updated_at, about.error, about.role);
  const status = (changes) => setContext(about, changes.version, changes.updated_at, changes.error, changes.role);
  try {
    if (page === "global") {
      globalView(root, about);
    } else {
      const object = contextObject();
      if (!object) {
        replace(root, alert("warning", "No " + KIND[page] + " given: open this view from the vSphere Client, or add ?objectId=.", { id: "error" }));
        return;
      }
      if (object.guid && vc.instance_uuid && object.guid.toLowerCase() !== vc.instance_uuid.toLowerCase()) {
        replace(root, alert("warning", "This " + KIND[page] + " is in the vCenter with instance UUID " + object.guid
          + ", which this vsguesttruth service does not watch: it reads vCenter " + vc.name + " (" + vc.instance_uuid + "). "
          + "In Enhanced Linked Mode, each vCenter needs its own vsguesttruth service registered with it.", { id: "other-vcenter" }));
        return;
      }
      if (page === "host-monitor") await hostView(root, object);
      else if (page === "move") await moveView(root, object);
      else if (page === "datastore-monitor") {
        const draw = async () => replace(root, await datastoreView(object.id));
        await draw();
        onChange(async (c) => { if (c.reset || c.disks.some((d) => d.datastore_morefs.includes(object.moref))) await draw(); });
      } else await vmView(root, object, page);
    }
  } catch (err) { fail(root, err); }
  start(about.inventory_version, status);
}

takeFragmentToken();
initialize(() => { run().catch((err) => fail($("content"), err)); });
window.VSGT = { api };
