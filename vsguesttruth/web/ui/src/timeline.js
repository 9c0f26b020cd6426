// A timeline of what happened, newest first, as Clarity's vertical timeline: fed by vCenter events (the
// service's moves, advice, holds and refusals; later the incidents' openings and resolutions).
import { el, time } from "./dom.js";
import { icon } from "./words.js";

const KIND = {
  moved: { shape: "success-standard", word: "moved" }, moving: { shape: "sync", word: "moving" },
  failed: { shape: "error-standard", word: "failed" }, advice: { shape: "lightbulb", word: "advice" },
  held: { shape: "hourglass", word: "held" }, refused: { shape: "ban", word: "not moved" },
  note: { shape: "info-standard", word: "note" },
};

// items: [{time (ISO), kind, title, text}]
export function timeline(items, options) {
  options = options || {};
  if (!items.length) return el("p", { cls: "vsgt-muted", id: options.id, text: options.empty || "Nothing happened in the last day." });
  const sorted = items.slice().sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  return el("ul", { cls: "clr-timeline clr-timeline-vertical vsgt-timeline", id: options.id, "aria-label": options.label || "Timeline" },
    sorted.map((item) => {
      const k = KIND[item.kind] || KIND.note;
      return el("li", { cls: "clr-timeline-step", "data-kind": item.kind },
        el("div", { cls: "clr-timeline-step-header" }, el("time", { datetime: item.time, text: time(item.time) })),
        icon(k.shape, k.word),
        el("div", { cls: "clr-timeline-step-body" },
          el("span", { cls: "clr-timeline-step-title", text: item.title || k.word }),
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
