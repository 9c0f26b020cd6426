/* vsguesttruth pages: vanilla JS, no framework, no CDN. One file for every page; <body data-page=...>
   says which one. Data only ever goes into the DOM as text (textContent), never as HTML.

   Credentials, in order: an API token given in the URL fragment (#token=..., kept in sessionStorage and
   removed from the address bar) or typed in the login box; else the vSphere Client user's session from the
   plugin SDK (htmlClientSdk.app.getSessionInfo -> sessionToken), sent as vmware-api-session-id.
   The object a view is about: htmlClientSdk.app.getContextObjects()[0].id, or ?objectId= (both may be a
   moref like vm-51 or a vSphere Client id like urn:vmomi:VirtualMachine:vm-51:<vCenter guid>). */
(function () {
  "use strict";
  var VERDICTS = ["media_failure", "all_paths_down", "connectivity_lost", "degraded", "below_sla", "unknown", "healthy"];
  var WORDS = {
    healthy: "healthy", degraded: "degraded", below_sla: "below SLA", connectivity_lost: "connectivity lost",
    all_paths_down: "all paths down", media_failure: "media failure", unknown: "unknown"
  };
  var API = "../api/v1/";
  var TOKEN_KEY = "vsgt.token";
  var sdk = window.htmlClientSdk || null;
  var sessionToken = null;

  // -- DOM -----------------------------------------------------------------------------------------
  function el(tag, attrs) {
    var node = document.createElement(tag);
    var key;
    for (key in (attrs || {})) {
      if (!Object.prototype.hasOwnProperty.call(attrs, key) || attrs[key] === null || attrs[key] === undefined) { continue; }
      if (key === "text") { node.textContent = String(attrs[key]); }
      else if (key === "cls") { node.className = attrs[key]; }
      else if (key.slice(0, 2) === "on") { node.addEventListener(key.slice(2), attrs[key]); }
      else { node.setAttribute(key, attrs[key]); }
    }
    for (var i = 2; i < arguments.length; i++) { append(node, arguments[i]); }
    return node;
  }
  function append(node, child) {
    if (child === null || child === undefined || child === false) { return; }
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  function replace(node) {
    var args = Array.prototype.slice.call(arguments, 1);
    while (node.firstChild) { node.removeChild(node.firstChild); }
    append(node, args);
  }
  function badge(verdict) {
    return el("span", { cls: "badge v-" + verdict, "data-verdict": verdict, text: WORDS[verdict] || verdict });
  }
  function stateBadge(state) { return el("span", { cls: "badge s-" + state, text: state }); }
  function $(id) { return document.getElementById(id); }
  function gib(bytes) { return (bytes / 1073741824).toFixed(1) + " GiB"; }
  function link(page, id, label) { return el("a", { href: page + "?objectId=" + encodeURIComponent(id), text: label }); }

  // -- credentials and the API --------------------------------------------------------------------
  function takeFragmentToken() {
    var match = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash || "");
    if (match) {
      try { window.sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1])); } catch (e) { /* private mode */ }
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }
  function token() {
    try { return window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }
  function headers(extra) {
    var h = { "Accept": "application/json" };
    var t = token();
    if (t) { h["Authorization"] = "Bearer " + t; }
    else if (sessionToken) { h["vmware-api-session-id"] = sessionToken; }
    for (var k in (extra || {})) { h[k] = extra[k]; }
    return h;
  }
  function ApiError(status, message, body) { this.status = status; this.message = message; this.body = body || {}; }
  function api(path, options) {
    options = options || {};
    var init = { method: options.method || "GET", headers: headers(options.body ? { "Content-Type": "application/json" } : {}),
                 cache: "no-store", credentials: "omit" };
    if (options.body) { init.body = JSON.stringify(options.body); }
    return window.fetch(API + path, init).then(function (response) {
      return response.text().then(function (text) {
        var body = {};
        try { body = text ? JSON.parse(text) : {}; } catch (e) { body = { error: text }; }
        if (!response.ok) {
          if (response.status === 401) { showLogin(); }
          throw new ApiError(response.status, body.error || ("HTTP " + response.status), body);
        }
        return body;
      });
    });
  }
  function showLogin() {
    var box = $("login");
    if (!box || !box.classList.contains("hidden")) { return; }
    box.classList.remove("hidden");
  }
  function setupLogin() {
    var box = $("login");
    if (!box) { return; }
    replace(box,
      el("div", { cls: "alert warn" },
        el("p", { text: "Sign in: open this page from the vSphere Client, or enter an API token." }),
        el("form", { id: "login-form", onsubmit: function (event) {
          event.preventDefault();
          var value = $("login-token").value.trim();
          if (value) { try { window.sessionStorage.setItem(TOKEN_KEY, value); } catch (e) { /* ignore */ } window.location.reload(); }
        } },
          el("input", { type: "password", id: "login-token", placeholder: "API token", autocomplete: "off" }), " ",
          el("button", { type: "submit", cls: "primary", text: "Sign in" }))));
  }
  function objectId() {
    var id = null;
    try {
      var objects = sdk && sdk.app.getContextObjects ? sdk.app.getContextObjects() : [];
      if (objects && objects.length) { id = objects[0].id || objects[0].value || null; }
    } catch (e) { id = null; }
    if (!id) { id = new URLSearchParams(window.location.search).get("objectId"); }
    if (!id) { return null; }
    var urn = /^urn:vmomi:[A-Za-z]+:([^:]+)(?::.*)?$/.exec(id);  // urn:vmomi:VirtualMachine:vm-51:<guid>
    return urn ? urn[1] : id;
  }
  function showError(target, err) {
    var message = (err && err.message) ? err.message : String(err);
    replace(target, el("div", { cls: "alert error", role: "alert", text: message }));
  }
  function setMeta(text) { var meta = $("meta"); if (meta) { meta.textContent = text; } }
  function stamp(version, role) {
    // serve's role: the instance holding the single-instance lease acts, another one stands by (read-only)
    var standby = role && role.role === "passive" ? " \u00b7 standby (read-only): the active instance is " +
      (role.holder || "not known yet") : "";
    setMeta("inventory v" + version + " \u00b7 " + new Date().toLocaleTimeString() + standby);
  }

  // Live updates: long-poll /status?after=V&wait=20 and re-render when the inventory changes.
  function live(render) {
    var version = -1;
    var stopped = false;
    function loop() {
      if (stopped) { return; }
      var query = version < 0 ? "status?unhealthy=true" : "status?unhealthy=true&after=" + version + "&wait=20";
      api(query).then(function (status) {
        var changed = status.version !== version;
        version = status.version;
        stamp(version, status.role);
        return changed ? render(status) : null;
      }).then(function () { window.setTimeout(loop, 300); }, function (err) {
        if (err && err.status === 401) { stopped = true; return; }
        setMeta("retrying: " + (err && err.message ? err.message : err));
        window.setTimeout(loop, 3000);
      });
    }
    loop();
  }

  // -- the global view ----------------------------------------------------------------------------
  function counts(status) {
    return el("div", { cls: "counts", id: "counts" }, VERDICTS.map(function (v) {
      var n = status.counts[v] || 0;
      return el("div", { cls: "tile t-" + v + (n ? "" : " zero"), "data-verdict": v },
        el("span", { cls: "n", text: n }), el("span", { cls: "label", text: WORDS[v] }));
    }));
  }
  function hostTable(hosts) {
    return el("table", { id: "hosts" },
      el("thead", null, el("tr", null, ["Host", "Cluster", "Verdict", "Paths"].map(function (h) { return el("th", { text: h }); }))),
      el("tbody", null, hosts.map(function (h) {
        return el("tr", { "data-host": h.name },
          el("td", null, link("host-monitor.html", h.moref, h.name)), el("td", { text: h.cluster || "-" }),
          el("td", null, badge(h.verdict)), el("td", { text: h.line }));
      })));
  }
  function renderGlobal(status) {
    var groups = {};
    status.disks.forEach(function (d) { (groups[d.verdict] = groups[d.verdict] || []).push(d); });
    var bad = status.total - (status.counts.healthy || 0);
    var body = [
      counts(status),
      el("h2", { text: bad ? bad + " of " + status.total + " virtual disks need attention" : "All " + status.total + " virtual disks are healthy" })
    ];
    if (!bad) { body.push(el("div", { cls: "all-good", id: "all-good", text: "Every path to every disk works." })); }
    VERDICTS.forEach(function (v) {
      if (v === "healthy" || !groups[v]) { return; }
      body.push(el("section", { cls: "verdict-group g-" + v, "data-group": v },
        el("h3", null, badge(v), " " + groups[v].length + " disk" + (groups[v].length > 1 ? "s" : "")),
        el("table", null,
          el("thead", null, el("tr", null, ["VM", "Disk", "Host", "Datastores / LUNs", "Why"].map(function (h) { return el("th", { text: h }); }))),
          el("tbody", null, groups[v].map(function (d) {
            return el("tr", { "data-vm": d.vm, "data-disk": d.disk, "data-verdict": d.verdict },
              el("td", null, link("vm-monitor.html", d.vm_moref, d.vm)),
              el("td", { text: d.disk + " (" + d.controller + " " + d.bus + ":" + d.unit + ")" }),
              el("td", null, d.host_moref ? link("host-monitor.html", d.host_moref, d.host) : "-"),
              el("td", { cls: "small" }, d.datastores.join(", ") || "-", el("br"), el("span", { cls: "mono muted", text: d.luns.join(", ") })),
              el("td", { cls: "small", text: d.explanation }));
          })))));
    });
    body.push(el("h2", { text: "Hosts" }), hostTable(status.hosts));
    replace($("content"), body);
  }

  // -- VM views -------------------------------------------------------------------------------------
  function vmHeader(vm) {
    return el("div", { cls: "card", id: "vm-head", "data-verdict": vm.verdict },
      el("h2", null, vm.name + " ", badge(vm.verdict)),
      el("div", { cls: "muted small", text: vm.vm + " \u00b7 " + vm.power_state + " \u00b7 on " + (vm.host || "?") + (vm.cluster ? " in " + vm.cluster : "") }),
      el("p", { text: vm.explanation }));
  }
  function renderSummary(vm) {
    replace($("content"),
      el("div", { cls: "card", id: "vm-card", "data-verdict": vm.verdict },
        el("div", null, el("strong", { text: "Storage truth " }), badge(vm.verdict)),
        el("p", { cls: "small", text: vm.explanation }),
        el("table", null, el("tbody", null, vm.disks.map(function (d) {
          return el("tr", { "data-disk": d.disk.label, "data-verdict": d.verdict },
            el("td", { text: d.disk.label }), el("td", null, badge(d.verdict)),
            el("td", { cls: "small muted", text: d.datastores.map(function (ds) { return ds.name; }).join(", ") }));
        }))),
        el("a", { href: "vm-monitor.html?objectId=" + encodeURIComponent(vm.vm), text: "Every path \u2192" })));
  }
  function renderChain(vm) {
    var disks = vm.disks.map(function (d) {
      var disk = d.disk;
      return el("div", { cls: "disk d-" + d.verdict, "data-disk": d.disk.label, "data-verdict": d.verdict },
        el("h3", null, d.disk.label + " ", badge(d.verdict)),
        el("div", { cls: "small muted", text: disk.controller + " " + disk.bus + ":" + disk.unit + " \u00b7 " + gib(disk.capacity_bytes) +
          " \u00b7 " + disk.backing + (disk.uuid ? " \u00b7 uuid " + disk.uuid : "") }),
        el("p", { text: d.explanation }),
        el("div", { cls: "chain" },
          disk.files.length ? el("div", { cls: "small mono", text: disk.files.join("  \u2190  ") }) : null,
          d.datastores.map(function (ds) {
            return el("div", { cls: "small" }, "Datastore ", el("strong", { text: ds.name }), " (" + ds.kind + (ds.remote ? ", " + ds.remote : "") + ") ", badge(ds.verdict),
              " mounted on " + (ds.mounts.map(function (m) { return m.host + (m.accessible ? "" : " (" + (m.reason || "inaccessible") + ")"); }).join(", ") || "-"));
          }),
          d.luns.map(function (lun) {
            return el("div", { cls: "lun", "data-lun": lun.canonical_name },
              el("h3", { cls: "small" }, "LUN ", el("span", { cls: "mono", text: lun.canonical_name }), " ",
                badge(lun.verdict), el("span", { cls: "muted", text: "  " + lun.media + " \u00b7 " + (lun.vaai || "").replace("vStorage", "VAAI ") + (lun.datastore ? " \u00b7 extent of " + lun.datastore : "") })),
              el("table", null,
                el("thead", null, el("tr", null, ["Host", "Working", "LUN state", "Paths"].map(function (h) { return el("th", { text: h }); }))),
                el("tbody", null, lun.hosts.map(function (hp) {
                  var here = hp.host === vm.host;
                  return el("tr", { cls: here ? "here" : "", "data-host": hp.host },
                    el("td", { text: hp.host + (here ? "  \u2190 VM here" : "") + (hp.connected ? "" : " (not connected)") }),
                    el("td", { text: hp.working + "/" + hp.total }),
                    el("td", { text: (hp.operational_state || []).join(",") || "-" }),
                    el("td", null, el("div", { cls: "paths" }, hp.paths.map(function (p) {
                      return el("span", { title: p.name + " via " + p.hba + " target " + (p.target || "-") }, stateBadge(p.state), el("span", { cls: "mono small", text: " " + p.name + " " }));
                    }))));
                }))));
          })));
    });
    replace($("content"), vmHeader(vm), disks);
  }

  // -- host monitor -------------------------------------------------------------------------------
  function renderHost(h) {
    replace($("content"),
      el("div", { cls: "card", id: "host-head", "data-verdict": h.verdict },
        el("h2", null, h.name + " ", badge(h.verdict)),
        el("div", { cls: "muted small", text: h.moref + (h.cluster ? " \u00b7 " + h.cluster : "") + " \u00b7 " + h.connection_state + (h.maintenance ? " \u00b7 maintenance" : "") }),
        el("p", { id: "host-line", text: h.line })),
      el("h3", { text: "Host bus adapters" }),
      el("table", { id: "hbas" },
        el("thead", null, el("tr", null, ["HBA", "Kind", "Status", "WWPN", "Paths working", "Model"].map(function (x) { return el("th", { text: x }); }))),
        el("tbody", null, h.hbas.map(function (a) {
          return el("tr", { "data-hba": a.device },
            el("td", { text: a.device }), el("td", { text: a.kind }), el("td", null, stateBadge(a.online ? "active" : (a.status === "unknown" ? "unknown" : "dead")), " " + a.status),
            el("td", { cls: "mono", text: a.wwpn || "-" }), el("td", { text: a.working + "/" + a.total }), el("td", { cls: "small", text: a.model || "" }));
        }))),
      el("h3", { text: "LUNs and paths" }),
      el("table", { id: "luns" },
        el("thead", null, el("tr", null, ["LUN", "Datastore", "Media", "State", "Working", "Paths", "Verdict"].map(function (x) { return el("th", { text: x }); }))),
        el("tbody", null, h.luns.map(function (l) {
          return el("tr", { "data-lun": l.canonical_name, "data-verdict": l.verdict },
            el("td", { cls: "mono small", text: l.canonical_name }), el("td", { text: l.datastore || "-" }), el("td", { text: l.media }),
            el("td", { text: (l.operational_state || []).join(",") }), el("td", { text: l.working + "/" + l.total }),
            el("td", null, el("div", { cls: "paths" }, l.paths.map(function (p) {
              return el("span", { title: p.name + " target " + (p.target || "-") }, stateBadge(p.state), el("span", { cls: "mono small", text: " " + p.hba + " " }));
            }))),
            el("td", null, badge(l.verdict)));
        }))));
  }

  // -- the "Move to a healthy host" modal ---------------------------------------------------------------
  function renderMove(vm, plan) {
    var target = $("content");
    var planBox = el("div", { id: "plan" });
    var answer = el("div", { id: "answer" });
    var move = el("button", { cls: "primary", id: "move", type: "button", text: "Move\u2026" });
    var cancel = el("button", { type: "button", id: "cancel", text: "Close", onclick: closeModal });
    if (plan.error) {
      append(planBox, el("div", { cls: "alert warn", id: "plan-unavailable", text: "Plan: " + plan.error + "." }));
    } else {
      append(planBox, el("div", { cls: "alert info", id: "plan-text" },
        el("strong", { text: "Plan: " }), describePlan(plan)));
    }
    move.addEventListener("click", function () {
      move.disabled = true;
      var toHost = plan && !plan.error ? planTarget(plan) : null;
      var toName = plan && !plan.error ? planTargetName(plan) : null;
      var confirm = el("div", { cls: "confirm", id: "confirm" },
        el("p", { text: "Move " + vm.name + " from " + (vm.host || "?") + " to " + (toName || "the healthiest host the planner finds") + "? Its disks stay where they are; vSphere vMotions the running VM." }),
        el("div", { cls: "actions" },
          el("button", { type: "button", id: "confirm-no", text: "Cancel", onclick: function () { confirm.remove(); move.disabled = false; } }),
          el("button", { type: "button", cls: "danger", id: "confirm-yes", text: "Move now", onclick: function () {
            this.disabled = true;
            replace(answer, el("div", { cls: "alert info", text: "Asking vsguesttruth to move " + vm.name + "\u2026" }));
            api("vms/" + encodeURIComponent(vm.vm) + "/migrate", { method: "POST", body: { to_host: toHost, dry_run: false } }).then(function (result) {
              replace(answer, el("div", { cls: "alert ok", id: "answer-ok", "data-status": 200, text: result.message || ("Done: " + JSON.stringify(result)) }));
            }, function (err) {
              var notAvailable = err.status === 501;
              replace(answer, el("div", { cls: "alert " + (notAvailable ? "warn" : "error"), id: "answer-error", "data-status": err.status,
                text: notAvailable ? "Not moved: remediation not available on this server yet (your request was authorised)." : "Not moved: " + err.message }));
            }).then(function () { confirm.remove(); move.disabled = false; });
          } })));
      target.appendChild(confirm);
    });
    replace(target, vmHeader(vm),
      el("table", null, el("tbody", null, vm.disks.map(function (d) {
        return el("tr", null, el("td", { text: d.disk.label }), el("td", null, badge(d.verdict)), el("td", { cls: "small", text: d.explanation }));
      }))),
      planBox, answer, el("div", { cls: "actions" }, cancel, move));
  }
  function planItem(plan) {
    return Array.isArray(plan.moves) ? plan.moves[0] : (Array.isArray(plan) ? plan[0] : plan);
  }
  function planTarget(plan) {  // what the migrate call takes (a host moref or name)
    var item = planItem(plan);
    return item ? (item.to_host || item.target_host || item.to || null) : null;
  }
  function planTargetName(plan) {  // what a person reads
    var item = planItem(plan);
    return item ? (item.to_host_name || item.to || item.target_host || item.to_host || null) : null;
  }
  function describePlan(plan) {
    var items = Array.isArray(plan.moves) ? plan.moves : (Array.isArray(plan) ? plan : [plan]);
    if (!items.length) { return "nothing to move."; }
    return items.map(function (m) {
      var to = m.to_host_name || m.to || m.target_host || m.to_host || "?";
      return (m.vm_name || m.vm || "VM") + " \u2192 " + to + (m.reason || m.why ? ": " + (m.reason || m.why) : "");
    }).join("; ");
  }
  function closeModal() {
    if (sdk && sdk.modal && sdk.modal.close) { sdk.modal.close(); }
  }

  // -- page start -----------------------------------------------------------------------------------
  function needId(kind) {
    var id = objectId();
    if (!id) { showError($("content"), "No " + kind + " given: open this view from the vSphere Client, or add ?objectId=" + (kind === "host" ? "host-42" : "vm-51") + "."); }
    return id;
  }
  function start() {
    var page = document.body.getAttribute("data-page");
    setupLogin();
    var content = $("content");
    var fail = function (err) { if (!(err && err.status === 401)) { showError(content, err); } };
    var id;
    if (page === "global") {
      live(function (status) { renderGlobal(status); });
    } else if (page === "vm-summary" || page === "vm-monitor") {
      if (!(id = needId("VM"))) { return; }
      live(function () {
        return api("vms/" + encodeURIComponent(id) + "/map").then(page === "vm-summary" ? renderSummary : renderChain, fail);
      });
    } else if (page === "host-monitor") {
      if (!(id = needId("host"))) { return; }
      live(function () { return api("hosts/" + encodeURIComponent(id)).then(renderHost, fail); });
    } else if (page === "move") {
      if (!(id = needId("VM"))) { return; }
      api("vms/" + encodeURIComponent(id) + "/map").then(function (vm) {
        return api("plan?vm=" + encodeURIComponent(vm.vm)).then(function (plan) { return plan; }, function (err) {
          if (err.status === 401) { throw err; }
          return { error: err.body && err.body.error ? err.body.error : err.message };
        }).then(function (plan) { renderMove(vm, plan); });
      }).catch(fail);
    }
  }
  takeFragmentToken();
  function boot() {
    if (sdk && !sdk.isStub && sdk.app && sdk.app.getSessionInfo) {
      sdk.app.getSessionInfo(function (info) { sessionToken = info && info.sessionToken ? info.sessionToken : null; start(); });
    } else { start(); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (sdk && sdk.initialize) { sdk.initialize(boot); } else { boot(); }
  });
  window.VSGT = { api: api, objectId: objectId };
})();
