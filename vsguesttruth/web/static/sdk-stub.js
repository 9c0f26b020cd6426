/* A stand-in for the vSphere Client's htmlClientSdk, served by the plugin server itself at
   /api/ui/htmlClientSdk.js. Inside the vSphere Client that path belongs to vCenter, which serves the real
   SDK; outside it (standalone, tests) this stub gives the pages the same API: the object id comes from the
   ?objectId= query parameter, and modal.close() just tells the page. There is no vCenter session unless one
   is handed over in the URL fragment (#vsphere-session=ID, a vCenter Automation API session id; kept for the
   tab in sessionStorage, removed from the address bar): then getSessionInfo() gives it as the sessionToken,
   as the vSphere Client does, and the stub says it is not a stub so the page uses it. Else: an API token. */
(function () {
  "use strict";
  if (window.htmlClientSdk) { return; }
  var params = new URLSearchParams(window.location.search);
  var KEY = "vsgt.stub.session";
  var handed = /(?:^|[#&])vsphere-session=([^&]+)/.exec(window.location.hash || "");
  if (handed) {
    try { window.sessionStorage.setItem(KEY, decodeURIComponent(handed[1])); } catch (e) { /* private mode */ }
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  var session = null;
  try { session = window.sessionStorage.getItem(KEY); } catch (e) { /* private mode */ }
  window.htmlClientSdk = {
    isStub: !session,
    initialize: function (callback) { window.setTimeout(callback, 0); },
    app: {
      getSessionInfo: function (callback) { callback({ sessionToken: session }); },
      getContextObjects: function () {
        var id = params.get("objectId");
        return id ? [{ id: id }] : [];
      },
      getClientLocale: function () { return "en-US"; },
      getTheme: function () { return { name: "light" }; },
      navigateTo: function () {}
    },
    modal: {
      close: function () { window.dispatchEvent(new Event("vsgt-modal-close")); },
      setOptions: function () {}
    }
  };
})();
