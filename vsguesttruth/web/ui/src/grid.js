// A list whose rows live on the server: it asks for one page at a time (sort, search, filters, offset,
// limit) and shows only that page. Used for the disk table, hosts, VMs on a host, LUNs, datastores,
// target ports (and the incident list). Sorting is by the column headers (aria-sort), the search field is
// labelled, and the row count is announced politely (aria-live) when it changes.
import { el, replace } from "./dom.js";

const PAGE_SIZES = [25, 50, 100, 200];

// options: id, label (what the rows are, e.g. "disks"), columns [{title, sort?, cell(row) -> node|text,
// cls?}], load(params) -> Promise<{items, matched, total}>, rowAttrs(row), sort (default), limit, search
// (placeholder or false), toolbar (extra nodes), empty (text when nothing matches), filters (object), clock
// (cells read the browser's clock: drawn again on every load; else rows equal to those shown are kept).
export function grid(options) {
  const state = { sort: options.sort || "", q: "", offset: 0, limit: options.limit || 50, filters: { ...(options.filters || {}) } };
  const id = options.id;
  const status = el("span", { cls: "vsgt-grid-status", id: id + "-status", role: "status", "aria-live": "polite" });
  const tbody = el("tbody");
  const headRow = el("tr");
  const prev = el("button", { type: "button", cls: "btn btn-sm btn-link", id: id + "-prev", text: "Previous", onclick: () => go(-1) });
  const next = el("button", { type: "button", cls: "btn btn-sm btn-link", id: id + "-next", text: "Next", onclick: () => go(1) });
  const size = el("select", { id: id + "-size", cls: "clr-select", onchange: () => { state.limit = +size.value; state.offset = 0; reload(); } },
    PAGE_SIZES.map((n) => el("option", { value: n, selected: n === state.limit, text: String(n) })));
  let search = null;
  let timer = 0;
  if (options.search !== false) {
    search = el("input", { type: "search", id: id + "-search", cls: "clr-input", placeholder: options.search || "Search",
      oninput: () => { window.clearTimeout(timer); timer = window.setTimeout(() => { state.q = search.value; state.offset = 0; reload(); }, 250); } });
  }
  const table = el("table", { cls: "table table-compact vsgt-grid-table", id: id + "-table", "aria-describedby": id + "-status" },
    el("caption", { cls: "clr-sr-only", text: options.caption || options.label }), el("thead", null, headRow), tbody);
  const node = el("section", { cls: "vsgt-grid", id, "aria-label": options.caption || options.label },
    el("div", { cls: "vsgt-grid-toolbar" },
      options.toolbar || null,
      search ? el("div", { cls: "vsgt-search" }, el("label", { for: id + "-search", cls: "clr-control-label", text: "Search " + options.label }), search) : null),
    el("div", { cls: "vsgt-grid-scroll", tabindex: "0", role: "region", "aria-label": options.caption || options.label }, table),
    el("div", { cls: "vsgt-grid-footer" }, status,
      el("span", { cls: "vsgt-pager" }, prev, next,
        el("label", { for: id + "-size", text: "Rows per page" }), size)));
  let seq = 0;
  let lastCount = "";
  let drawn = null;  // the rows shown, as JSON

  function header() {
    const current = state.sort || options.sort || "";
    replace(headRow, options.columns.map((c) => {
      if (!c.sort) return el("th", { scope: "col", text: c.title });
      const active = current.replace(/^-/, "") === c.sort;
      const descending = active && current.startsWith("-");
      const order = active ? (descending ? "descending" : "ascending") : "none";
      return el("th", { scope: "col", "aria-sort": order, "data-sort": c.sort },
        el("button", { type: "button", cls: "btn btn-link btn-sm vsgt-sort", onclick: () => {
          state.sort = active && !descending ? "-" + c.sort : c.sort;
          state.offset = 0;
          reload();
        } }, c.title, el("span", { "aria-hidden": "true", text: active ? (descending ? " \u25bc" : " \u25b2") : "" })));
    }));
  }

  async function reload() {
    const mine = ++seq;
    header();
    let page;
    try {
      page = await options.load({ ...state.filters, sort: state.sort, q: state.q, offset: state.offset, limit: state.limit });
    } catch (err) {
      if (mine === seq) {
        replace(tbody, el("tr", null, el("td", { colspan: options.columns.length, cls: "vsgt-error", text: err.message || String(err) })));
        drawn = null;
      }
      return;
    }
    if (mine !== seq) return;  // a newer request is on its way
    const rows = page.items || [];
    const json = JSON.stringify(rows);
    if (json !== drawn || options.clock) {  // a live change reloads every list it may touch: most stay the same
      replace(tbody, rows.length ? rows.map((row) => el("tr", options.rowAttrs ? options.rowAttrs(row) : null,
        options.columns.map((c) => el("td", { cls: c.cls || null }, c.cell(row)))))
        : el("tr", null, el("td", { colspan: options.columns.length, cls: "vsgt-empty", text: options.empty || "Nothing to show." })));
      drawn = json;
    }
    const first = rows.length ? state.offset + 1 : 0;
    const text = page.matched ? first + "\u2013" + (state.offset + rows.length) + " of " + page.matched + " " + options.label
      + (page.matched !== page.total ? " (" + page.total + " in all)" : "") : "No " + options.label + " match";
    if (text !== lastCount) { status.textContent = text; lastCount = text; }
    prev.disabled = state.offset === 0;
    next.disabled = state.offset + rows.length >= page.matched;
    node.setAttribute("data-matched", String(page.matched));
    node.setAttribute("data-loaded", String(++loads));
  }
  let loads = 0;

  function go(step) {
    state.offset = Math.max(0, state.offset + step * state.limit);
    reload();
  }

  function setFilters(filters) {
    state.filters = { ...filters };
    state.offset = 0;
    return reload();
  }

  return { node, reload, setFilters, state };
}
