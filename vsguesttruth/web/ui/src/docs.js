// The API docs page: the bundled Swagger UI (swagger-ui-dist, no CDN). /openapi.json needs credentials
// like the API, so the page takes a token (the #token= fragment, the tab's session, or the field), reads the
// description with it, and pre-authorizes the "token" scheme; the Authorize button takes a token or a
// vSphere session id.
const TOKEN_KEY = "vsgt.token";

function token() {
  const match = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash || "");
  if (match) {
    try { window.sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1])); } catch (e) { /* ignore */ }
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  try { return window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
}

function start(value) {
  document.getElementById("docs-login").hidden = true;
  const ui = window.SwaggerUIBundle({
    url: "../openapi.json", dom_id: "#swagger", deepLinking: false, persistAuthorization: false,
    requestInterceptor: (request) => {
      if (request.url.endsWith("/openapi.json") && value) request.headers.Authorization = "Bearer " + value;
      return request;
    },
    onComplete: () => { if (value) ui.preauthorizeApiKey("token", value); },
  });
  window.ui = ui;
}

document.addEventListener("DOMContentLoaded", () => {
  const value = token();
  if (value) { start(value); return; }
  const form = document.getElementById("docs-login");
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const typed = document.getElementById("docs-token").value.trim();
    if (!typed) return;
    try { window.sessionStorage.setItem(TOKEN_KEY, typed); } catch (e) { /* ignore */ }
    start(typed);
  });
});
