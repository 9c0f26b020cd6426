// The plugin server's JSON API. Credentials, in order: an API token given in the URL fragment (#token=...,
// kept in sessionStorage and removed from the address bar) or typed in the sign-in box; else the vSphere
// Client user's session (sent as vmware-api-session-id). Cookies are never sent.
import { $, el, replace } from "./dom.js";

const API = "../api/v1/";
const TOKEN_KEY = "vsgt.token";
let session = null;

export class ApiError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body || {}; }
}

export function takeFragmentToken() {
  const match = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash || "");
  if (!match) return;
  try { window.sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1])); } catch (e) { /* private mode */ }
  const rest = window.location.hash.replace(/(^#|&)token=[^&]+/, "").replace(/^#?&?/, "");
  window.history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? "#" + rest : ""));
}

export function token() {
  try { return window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
}

export function useSession(sessionToken) { session = sessionToken; }

export function authHeaders() {
  const t = token();
  if (t) return { Authorization: "Bearer " + t };
  return session ? { "vmware-api-session-id": session } : {};
}

export async function api(path, options) {
  options = options || {};
  const headers = { Accept: "application/json", ...authHeaders() };
  if (options.body) headers["Content-Type"] = "application/json";
  const response = await window.fetch(API + path, {
    method: options.method || "GET", headers, cache: "no-store", credentials: "omit",
    body: options.body ? JSON.stringify(options.body) : undefined, signal: options.signal,
  });
  const text = await response.text();
  let body = {};
  try { body = text ? JSON.parse(text) : {}; } catch (e) { body = { error: text }; }
  if (!response.ok) {
    if (response.status === 401) showLogin();
    throw new ApiError(response.status, body.error || "HTTP " + response.status, body);
  }
  return body;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "" || value === false) continue;
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v)); else q.append(key, value);
  }
  const text = q.toString();
  return text ? "?" + text : "";
}

// The sign-in box: a labelled token field (outside the vSphere Client, or without a session).
export function showLogin() {
  const box = $("login");
  if (!box || box.childElementCount) return;
  replace(box,
    el("form", { id: "login-form", cls: "clr-form vsgt-login", onsubmit: (event) => {
      event.preventDefault();
      const value = $("login-token").value.trim();
      if (!value) return;
      try { window.sessionStorage.setItem(TOKEN_KEY, value); } catch (e) { /* ignore */ }
      window.location.reload();
    } },
      el("p", { text: "Sign in: open this view from the vSphere Client, or enter an API token." }),
      el("div", { cls: "clr-form-control" },
        el("label", { for: "login-token", cls: "clr-control-label", text: "API token" }),
        el("div", { cls: "clr-control-container" },
          el("div", { cls: "clr-input-wrapper" },
            el("input", { type: "password", id: "login-token", cls: "clr-input", autocomplete: "off", required: true })))),
      el("button", { type: "submit", cls: "btn btn-primary btn-sm", text: "Sign in" })));
  box.hidden = false;
}
