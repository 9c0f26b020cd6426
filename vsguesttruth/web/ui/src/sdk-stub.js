/* A stand-in for the vSphere Client's htmlClientSdk, served by the plugin server itself at
   /api/ui/htmlClientSdk.js. Inside the vSphere Client that path belongs to vCenter, which serves the real
   SDK; outside it (standalone, tests) this stub gives the pages the same calls: the object comes from
   ?objectId=, the theme from ?theme=dark (and changes with htmlClientSdk.event.emitThemeChanged, as the
   client's theme switch would), navigateTo opens our page of the view in this window, and modal.close() just
   tells the page. There is no vCenter session (use an API token) unless one is handed over in the URL
   fragment (#vsphere-session=ID, a vCenter Automation API session id; kept for the tab in sessionStorage and
   removed from the address bar): then getSessionInfo() gives it as the sessionToken, as the vSphere Client
   does, and the stub says it is not a stub so the pages use it. */
(function () {
  "use strict";
  if (window.htmlClientSdk) { return; }
  var params = new URLSearchParams(window.location.search);
  var theme = { name: params.get("theme") === "dark" ? "dark" : "light" };
  var themeListeners = [];
  var PAGES = { vsgtGlobal: "global.html", vsgtVmMonitor: "vm-monitor.html", vsgtHostMonitor: "host-monitor.html",
                vsgtDatastoreMonitor: "datastore-monitor.html" };
  var KEY = "vsgt.stub.session";
  var handed = /(?:^|[#&])vsphere-session=([^&]+)/.exec(window.location.hash || "");
  if (handed) {
    try { window.sessionStorage.setItem(KEY, decodeURIComponent(handed[1])); } catch (e) { /* private mode */ }
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  var session = null;
  try { session = window.sessionStorage.getItem(KEY); } catch (e) { /* private mode */ }
  function keep(url) { return params.get("theme") ? url + (url.indexOf("?") < 0 ? "?" : "&") + "theme=" + params.get("theme") : url; }
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
      getTheme: function () { return theme; },
      getNavigationData: function () { return null; },
      navigateTo: function (options) {
        var page = PAGES[options.targetViewId] || "global.html";
        var url = options.objectId ? page + "?objectId=" + encodeURIComponent(options.objectId) : page;
        url = keep(url);
        var route = options.customData && options.customData.route;
        window.location.assign(url + (route ? "#" + route : ""));
      }
    },
    event: {
      onThemeChanged: function (callback) { themeListeners.push(callback); },
      emitThemeChanged: function (name) { theme = { name: name }; themeListeners.forEach(function (cb) { cb(theme); }); }
    },
    modal: {
      close: function () { window.dispatchEvent(new Event("vsgt-modal-close")); },
      setOptions: function () {}
    }
  };
})();
