// DOM helpers. Data only ever goes into the page as text (textContent, attributes), never as HTML.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "cls") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  append(node, children);
  return node;
}

export function append(node, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) { child.forEach((c) => append(node, c)); return; }
  node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export const $ = (id) => document.getElementById(id);

export function gib(bytes) {
  if (!bytes) return "-";
  const gib = bytes / 1073741824;
  return gib >= 1024 ? (gib / 1024).toFixed(1) + " TiB" : gib.toFixed(gib >= 100 ? 0 : 1) + " GiB";
}

// A moment on a timeline: the time of day when it is today, else the date too.
export function clock(iso) {
  const at = new Date(iso);
  if (isNaN(at)) return String(iso);
  return at.toDateString() === new Date().toDateString() ? at.toLocaleTimeString() : at.toLocaleString();
}

export function time(iso) {
  const at = new Date(iso);
  return isNaN(at) ? String(iso) : at.toLocaleString();
}

// A visually hidden heading or text for screen readers (Clarity's class).
export const srOnly = (tag, text, attrs) => el(tag, { ...(attrs || {}), cls: "clr-sr-only", text });

// A Clarity alert: kind is info, success, warning or danger.
export function alert(kind, text, attrs) {
  const shape = { info: "info-standard", success: "success-standard", warning: "warning-standard", danger: "error-standard" }[kind];
  return el("div", { ...(attrs || {}), cls: "alert alert-" + kind + " alert-sm", role: kind === "danger" ? "alert" : "status" },
    el("div", { cls: "alert-items" },
      el("div", { cls: "alert-item static" },
        el("div", { cls: "alert-icon-wrapper" }, el("cds-icon", { cls: "alert-icon", shape, "aria-hidden": "true" })),
        el("span", { cls: "alert-text" }, text))));
}

// A wide table in a region that scrolls sideways (focusable, so the keyboard can scroll it too).
export function scroll(label, table) {
  return el("div", { cls: "vsgt-scroll", tabindex: "0", role: "region", "aria-label": label }, table);
}
