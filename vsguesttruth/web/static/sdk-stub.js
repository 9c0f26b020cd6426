/* A stand-in for the vSphere Client's htmlClientSdk, served by the plugin server itself at
   /api/ui/htmlClientSdk.js. Inside the vSphere Client that path belongs to vCenter, which serves the real
   SDK; outside it (standalone, tests) this stub gives the pages the same API: the object id comes from the
   ?objectId= query parameter, there is no vCenter session (use an API token), and modal.close() just tells
   the page. */
(function () {
  "use strict";
  if (window.htmlClientSdk) { return; }
  var params = new URLSearchParams(window.location.search);
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
      getTheme: function () { return { name: "light" }; },
      navigateTo: function () {}
    },
    modal: {
      close: function () { window.dispatchEvent(new Event("vsgt-modal-close")); },
      setOptions: function () {}
    }
  };
})();
