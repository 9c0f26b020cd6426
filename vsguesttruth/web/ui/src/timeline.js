// A timeline of what happened, newest first, as Clarity's vertical timeline: incidents opening and resolving,
// and the service's actions (its vCenter events: moves, advice, holds and refusals).
import { routeLink } from "./common.js";
import { clock, el, time } from "./dom.js";
import { icon } from "./words.js";

const KIND = {
  moved: { shape: "success-standard", word: "moved" }, moving: { shape: "sync", word: "moving" },
  failed: { shape: "error-standard", word: "failed" }, advice: { shape: "lightbulb", word: "advice" },
  held: { shape: "hourglass", word: "held" }, refused: { shape: "ban", word: "not moved" },
  opened: { shape: "warning-standard", word: "incident opened" }, resolved: { shape: "check-circle", word: "incident resolved" },
  incident: { shape: "info-standard", word: "incident recorded" }, answered: { shape: "info-standard", word: "answered" },
  note: { shape: "info-standard", word: "note" },
};

// items: [{time (ISO), kind, title, text, route?}]; a route makes the title a link (e.g. to the incident)
export function timeline(items, options) {
  options = options || {};
  if (!items.length) return el("p", { cls: "vsgt-muted", id: options.id, text: options.empty || "Nothing happened in the last day." });
  const sorted = items.slice().sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  return el("ul", { cls: "clr-timeline clr-timeline-vertical vsgt-timeline", id: options.id, "aria-label": options.label || "Timeline" },
    sorted.map((item) => {
      const k = KIND[item.kind] || KIND.note;
      const title = item.title || k.word;
      return el("li", { cls: "clr-timeline-step", "data-kind": item.kind, "data-incident": item.incident || null },
        el("div", { cls: "clr-timeline-step-header" }, el("time", { datetime: item.time, title: time(item.time), text: clock(item.time) })),
        icon(k.shape, k.word),
        el("div", { cls: "clr-timeline-step-body" },
          el("span", { cls: "clr-timeline-step-title" }, item.route ? routeLink(item.route, title) : title),
          el("span", { cls: "clr-timeline-step-description", text: item.text })));
    }));
}

// vsguesttruth's vCenter events as timeline items.
export function fromEvents(events) {
  return events.map((e) => ({
    time: e.time, kind: e.kind, title: (e.vm_name ? e.vm_name + ": " : "") + (KIND[e.kind] || KIND.note).word,
    text: e.message.replace(/^vsguesttruth: /, "") + (e.user ? " (" + e.user + ")" : ""),
  }));
}
