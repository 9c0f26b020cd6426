// The vocabulary on screen: verdicts and path states as words, each with its own icon and colour, so no
// state is told by colour alone (the three reds: connectivity lost, all paths down, media failure).
import { el } from "./dom.js";

export const VERDICTS = ["media_failure", "all_paths_down", "connectivity_lost", "degraded", "below_sla", "unknown", "healthy"];

export const VERDICT = {
  healthy: { word: "healthy", label: "success", shape: "check-circle" },
  degraded: { word: "degraded", label: "warning", shape: "exclamation-triangle" },
  below_sla: { word: "below SLA", label: "warning", shape: "dashboard" },
  connectivity_lost: { word: "connectivity lost", label: "danger", shape: "disconnect" },
  all_paths_down: { word: "all paths down (APD)", label: "danger", shape: "ban" },
  media_failure: { word: "media failure (PDL)", label: "danger", shape: "heart-broken" },
  unknown: { word: "unknown", label: "info", shape: "help" },
};

export const ADVICE = {
  none: "nothing to do", keep_using: "keep using the disk; redundancy lost", wait: "wait and retry; not a media error",
  move_host: "move the VM to a host whose paths work (vMotion)", fail_over: "fail over to the replica",
  move: "move where the service level holds",
};

const STATE = {
  active: { label: "success", shape: "check-circle" }, standby: { label: "info", shape: "hourglass" },
  disabled: { label: "warning", shape: "minus-circle" }, dead: { label: "danger", shape: "times-circle" },
  unknown: { label: "info", shape: "help" },
};

export function word(verdict) { return (VERDICT[verdict] || VERDICT.unknown).word; }

export function icon(shape, label) {
  return label ? el("cds-icon", { shape, size: "16", role: "img", "aria-label": label })
               : el("cds-icon", { shape, size: "16", "aria-hidden": "true" });
}

// A verdict as a Clarity label: icon and words.
export function verdictLabel(verdict, text) {
  const v = VERDICT[verdict] || VERDICT.unknown;
  return el("span", { cls: "label label-" + v.label + " vsgt-verdict", "data-verdict": verdict },
    icon(v.shape), el("span", { cls: "text", text: text || v.word }));
}

// A path state (active, standby, disabled, dead, unknown) as a label.
export function stateLabel(state) {
  const s = STATE[state] || STATE.unknown;
  return el("span", { cls: "label label-" + s.label + " vsgt-state s-" + state }, icon(s.shape), el("span", { cls: "text", text: state }));
}
