// The vSphere Client's remote plugin SDK (htmlClientSdk), as the pages use it: the session, the theme
// (app.getTheme() and event.onThemeChanged: Clarity's light or dark theme follows the client), the object a
// view is about (app.getContextObjects(): "urn:vmomi:VirtualMachine:vm-51:<serverGuid>"), and navigation
// (app.navigateTo({targetViewId, objectId, customData})): links to vSphere objects open the client's view
// of the object, never a page inside the iframe. Outside the client, /api/ui/htmlClientSdk.js is a
// stand-in (sdk-stub.js) with the same calls.
const sdk = window.htmlClientSdk || null;

export const VIEWS = { global: "vsgtGlobal", vm: "vsgtVmMonitor", host: "vsgtHostMonitor", datastore: "vsgtDatastoreMonitor" };
const TYPES = { vm: "VirtualMachine", host: "HostSystem", datastore: "Datastore" };
let serverGuid = "";

export function initialize(done) {
  if (sdk && sdk.initialize) sdk.initialize(done); else done();
}

export function sessionToken() {
  return new Promise((resolve) => {
    if (!sdk || sdk.isStub || !sdk.app || !sdk.app.getSessionInfo) { resolve(null); return; }
    sdk.app.getSessionInfo((info) => resolve(info && info.sessionToken ? info.sessionToken : null));
  });
}

export function applyTheme(theme) {
  const name = theme && /dark/i.test(theme.name || theme) ? "dark" : "light";
  document.body.setAttribute("cds-theme", name);
  document.documentElement.style.colorScheme = name;
}

export function followTheme() {
  try { applyTheme(sdk && sdk.app && sdk.app.getTheme ? sdk.app.getTheme() : "light"); } catch (e) { applyTheme("light"); }
  if (sdk && sdk.event && sdk.event.onThemeChanged) sdk.event.onThemeChanged(applyTheme);
}

// The object this view is about: {moref, guid, id} (guid: the vCenter's instance UUID, "" if not given).
export function contextObject() {
  let id = null;
  try {
    const objects = sdk && sdk.app.getContextObjects ? sdk.app.getContextObjects() : [];
    if (objects && objects.length) id = objects[0].id || objects[0].value || null;
  } catch (e) { id = null; }
  if (!id) id = new URLSearchParams(window.location.search).get("objectId");
  if (!id) return null;
  const urn = /^urn:vmomi:[A-Za-z]+:([^:]+)(?::(.+))?$/.exec(id);
  return urn ? { moref: urn[1], guid: urn[2] || "", id } : { moref: id, guid: "", id };
}

export function navigationData() {
  try { return sdk && sdk.app.getNavigationData ? sdk.app.getNavigationData() : null; } catch (e) { return null; }
}

export function setServerGuid(guid) { serverGuid = guid || ""; }

function urn(kind, moref) { return "urn:vmomi:" + TYPES[kind] + ":" + moref + (serverGuid ? ":" + serverGuid : ""); }

// Open the client's view of a vSphere object (our monitor view of it), or a route of our global view.
export function navigate(kind, id) {
  if (!sdk || !sdk.app || !sdk.app.navigateTo) return;
  if (kind === "route") sdk.app.navigateTo({ targetViewId: VIEWS.global, customData: { route: id } });
  else sdk.app.navigateTo({ targetViewId: VIEWS[kind], objectId: urn(kind, id) });
}

export function closeModal() { if (sdk && sdk.modal && sdk.modal.close) sdk.modal.close(); }
