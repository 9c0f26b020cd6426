// The "Move to a healthy host" dialog (a modal the client opens from the VM's actions). It offers exactly
// what the planner would do for this VM (GET /plan?vm=, the same code path as POST migrate), shows a
// refusal with its reason instead of a button the server would refuse (healthy, APD, no host fits), keeps
// one row of buttons, and shows the VM as it is after a move (the verdict and the offer update live).
import { api } from "../api.js";
import { announce } from "../common.js";
import { alert, el, replace } from "../dom.js";
import { onChange } from "../live.js";
import { closeModal } from "../sdk.js";
import { verdictLabel } from "../words.js";

const ACTION = { vmotion: "vMotion", relocate_to_replica: "relocate (Storage vMotion) to the replica", storage_vmotion: "Storage vMotion" };

function offerWords(d) {
  const where = d.action === "vmotion" ? "from " + d.from_host_name + " to " + d.to_host_name
    : "from " + (d.from_datastore_name || "its datastores") + " to " + d.to_datastore_name + (d.to_host_name && d.to_host_name !== d.from_host_name ? " on " + d.to_host_name : "");
  return { where, action: ACTION[d.action] || d.action };
}

export async function moveView(root, object) {
  const head = el("div", { id: "vm-head" });
  const planBox = el("div", { id: "plan" });
  const answer = el("div", { id: "answer", "aria-live": "polite" });
  const actions = el("div", { cls: "vsgt-actions", id: "actions" });
  let vm = null;
  let busy = false;
  replace(root, head, planBox, answer, actions);

  const close = () => el("button", { type: "button", cls: "btn btn-outline", id: "close", text: "Close", onclick: closeModal });

  async function draw() {
    vm = await api("vms/" + encodeURIComponent(object.id) + "/map");
    replace(head, el("h2", { cls: "vsgt-dialog-title" }, vm.name + " ", verdictLabel(vm.verdict)),
      el("p", { cls: "vsgt-small", text: "on " + (vm.host || "?") + (vm.cluster ? " in " + vm.cluster : "") + ": " + vm.explanation }),
      el("ul", { cls: "list-unstyled vsgt-small", id: "move-disks" }, vm.disks.map((d) => el("li", { "data-disk": d.disk.label },
        d.disk.label + " ", verdictLabel(d.verdict), " " + d.explanation))));
    let decision = null;
    try {
      const plan = await api("plan?vm=" + encodeURIComponent(vm.vm));
      decision = plan.moves[0] || plan.refusals[0] || null;
    } catch (err) {
      if (err.status === 401) throw err;
      replace(planBox, alert(err.status === 501 ? "warning" : "danger",
        err.status === 501 ? "Moves are not available: this plugin server runs without remediation (vsguesttruth serve runs it)." : "Plan: " + err.message,
        { id: "plan-unavailable" }));
      replace(actions, close());
      return;
    }
    if (decision && decision.moves) {
      const { where, action } = offerWords(decision);
      replace(planBox, alert("info", "The planner would " + action + " " + vm.name + " " + where + ": " + decision.why + ".", { id: "plan-move", "data-to": decision.to_host_name }));
      replace(actions, close(), el("button", { type: "button", cls: "btn btn-primary", id: "move", text: "Move\u2026",
        onclick: () => confirm(decision, where) }));
    } else {
      replace(planBox, alert(vm.verdict === "healthy" ? "success" : "warning",
        "Not moving " + vm.name + ": " + (decision ? decision.why : "nothing to do") + ".", { id: "plan-refusal", "data-verdict": vm.verdict }));
      replace(actions, close());
    }
  }

  function confirm(decision, where) {
    replace(actions,
      el("p", { id: "confirm", cls: "vsgt-confirm", text: "Move " + vm.name + " " + where + "? "
        + (decision.action === "vmotion" ? "Its disks stay where they are; vSphere vMotions the running VM." : "vSphere copies its disks (Storage vMotion).") }),
      el("button", { type: "button", cls: "btn btn-outline", id: "confirm-no", text: "Cancel", onclick: () => draw() }),
      el("button", { type: "button", cls: "btn btn-primary", id: "confirm-yes", text: "Move now", onclick: () => run() }));
    document.getElementById("confirm-yes").focus();
  }

  async function run() {
    busy = true;
    const before = vm;
    replace(actions, close());
    replace(answer, alert("info", "Asking vsguesttruth to move " + vm.name + "\u2026", { id: "answer-wait" }));
    try {
      const result = await api("vms/" + encodeURIComponent(vm.vm) + "/migrate", { method: "POST", body: {} });
      replace(answer, alert("success", result.message || "Moved.", { id: "answer-ok" }));
      announce(result.message);
      await settled(before);  // never offer the same move again from a view vCenter has not updated yet
    } catch (err) {
      const refused = err.status === 409;
      replace(answer, alert(refused ? "warning" : "danger", (refused ? "" : "Not moved: ") + err.message, { id: "answer-error", "data-status": String(err.status) }));
    }
    busy = false;
    await draw();  // the verdict and the offer as they are now; the live feed updates them again
  }

  // Until the inventory shows the VM moved (another host, other datastores, another verdict), at most 30 s.
  async function settled(before) {
    const where = (v) => v.host_moref + "|" + v.verdict + "|" + v.disks.map((d) => d.datastores.map((ds) => ds.moref).join(",")).join(";");
    for (let i = 0; i < 60; i++) {
      const now = await api("vms/" + encodeURIComponent(before.vm) + "/map");
      if (where(now) !== where(before)) return;
      await new Promise((resolve) => window.setTimeout(resolve, 500));
    }
  }

  await draw();
  onChange(async (changes) => {
    if (!busy && (changes.reset || changes.truncated || changes.vms.includes(vm.vm))) await draw();
  });
}
