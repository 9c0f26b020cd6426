/* A stand-in for the vSphere Client's htmlClientSdk, served by the plugin server itself at
   /api/ui/htmlClientSdk.js. Inside the vSphere Client that path belongs to vCenter, which serves the real
   SDK; outside it (standalone, tests) this stub gives the pages the same calls: the object comes from
   ?objectId=, the theme from ?theme=dark (and changes with htmlClientSdk.event.emitThemeChanged, as the
   client's theme switch would), there is no vCenter session (use an API token), navigateTo opens our page of
   the view in this window, and modal.close() just tells the page. */
(function () {
  "use strict";
  if (window.htmlClientSdk) { return; }
  var params = new URLSearchParams(window.location.search);
  var theme = { name: params.get("theme") === "dark" ? "dark" : "light" };
  var themeListeners = [];
  var PAGES = { vsgtGlobal: "global.html", vsgtVmMonitor: "vm-monitor.html", vsgtHostMonitor: "host-monitor.html",
                vsgtDatastoreMonitor: "datastore-monitor.html" };
  function keep(url) { return params.get("theme") ? url + (url.indexOf("?") < 0 ? "?" : "&") + "theme=" + params.get("theme") : url; }
  window.htmlClientSdk = {
    isStub: true,
    initialize: function (callback) { window.setTimeout(callback, 0); },
    app: {
      getSessionInfo: function (callback) { callback({ sessionToken: null }); },
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
