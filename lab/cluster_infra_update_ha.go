package main

// Proactive HA ("InfraUpdateHA"): how vCenter reacts to the health its providers post
// (health_update_manager.go) in a cluster configured for it (cluster_compute_resource.go).
//
// vCenter (vSphere Availability, "Proactive HA"; API reference, ClusterInfraUpdateHaConfigInfo,
// HostRuntimeInfo.inQuarantineMode, ClusterHostInfraUpdateHaModeAction, RecommendationReasonCode):
//   - active only with DRS on, Proactive HA enabled and a provider listed; a host's state is the
//     worst current status the cluster's providers report for it: red is a severe degradation,
//     yellow a moderate one, green healthy, nothing reported unknown (no action);
//   - the remediation configured for the severity: QuarantineMode sets runtime.inQuarantineMode
//     and DRS moves the host's VMs away where the cluster can take them; MaintenanceMode enters
//     maintenance mode (EnterMaintenanceMode_Task started by vCenter, DRS evacuating the
//     powered-on VMs: host_system_maintenance.go);
//   - healthy again: quarantine ends ("a host that is reported as healthy will be recommended to
//     exit quarantine mode"); maintenance mode stays until an administrator exits it;
//   - behavior Automated executes this; Manual only publishes it as the cluster's recommendation
//     list (reason hostInDegradation / hostExitDegradation, a reasonText in the lab's words as
//     vCenter's localized text is not public, a ClusterHostInfraUpdateHaModeAction enterQuarantine /
//     enterMaintenance / exitQuarantine
//     and a ClusterMigrationAction per VM DRS would move), which ApplyRecommendation executes;
//   - DRS's vMotions are MigrateVM_Task tasks of vCenter's own ("Drm.ExecuteVMotionLRO",
//     reason system) that post DrsVmMigratedEvent and run in the control API's task mode; their
//     targets are hosts of the cluster that are connected, not in maintenance or quarantine mode
//     (or entering it), not reported degraded, and pass the migration checks
//     (virtual_machine_migrate.go: storage reachable, RDM LUNs seen); the least loaded first.
// The lab re-evaluates a cluster after each health post, cluster reconfiguration, maintenance
// change and applied recommendation (vCenter's DRS also runs every few minutes; the lab does not).
// It has no capacity model, so "can take them" means a compatible host exists. Proactive HA's own
// event types are not posted: no public source names them.

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var vcInfraUpdateHa = struct {
	run  sync.Mutex // one evaluation at a time
	mu   sync.Mutex
	keys map[string]string // host + op -> recommendation key, stable while it stands
	seq  int
}{keys: map[string]string{}}

func init() {
	vcCallFixes["ApplyRecommendation"] = vcHandleApplyRecommendation
}

// vcInfraUpdateHaKick re-evaluates a cluster in the background, as vCenter reacts after the call.
func vcInfraUpdateHaKick(cluster types.ManagedObjectReference) {
	if cluster.Type != "ClusterComputeResource" || vcReplaying {
		return
	}
	go vcInfraUpdateHaEvaluate(cluster)
}

// vcHostOp is what Proactive HA wants done to a host: enterQuarantine, enterMaintenance,
// exitQuarantine, or evacuate (a quarantined host that still runs VMs); "" nothing.
func vcHostOp(h *simulator.HostSystem, status types.ManagedEntityStatus, iuha types.ClusterInfraUpdateHaConfigInfo) string {
	maintenance, quarantine := vcHostModes(h)
	remediation := ""
	switch status {
	case types.ManagedEntityStatusRed:
		remediation = iuha.SevereRemediation
	case types.ManagedEntityStatusYellow:
		remediation = iuha.ModerateRemediation
	case types.ManagedEntityStatusGreen:
		if quarantine {
			return "exitQuarantine"
		}
		return ""
	default:
		return ""
	}
	switch {
	case maintenance || vcIsEntering(h.Self):
		return ""
	case remediation == "MaintenanceMode":
		return "enterMaintenance"
	case !quarantine:
		return "enterQuarantine"
	case len(vcPoweredOnVMs(h)) > 0:
		return "evacuate"
	}
	return ""
}

func vcInfraUpdateHaEvaluate(clRef types.ManagedObjectReference) {
	vcInfraUpdateHa.run.Lock()
	defer vcInfraUpdateHa.run.Unlock()
	cl, drs, iuha := vcClusterConfig(clRef)
	if cl == nil {
		return
	}
	var hosts []types.ManagedObjectReference
	simulator.Map.WithLock(cl, func() { hosts = append(hosts, cl.Host...) })
	var recs []types.ClusterRecommendation
	if vcInfraUpdateHaActive(drs, iuha) {
		for _, ref := range hosts {
			h, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
			if !ok {
				continue
			}
			status, _ := vcHostHealth(ref, iuha.Providers)
			op := vcHostOp(h, status, iuha)
			switch {
			case op == "":
			case iuha.Behavior == "Automated":
				vcApplyHostOp(h, op)
			case op != "evacuate":
				recs = append(recs, vcRecommendation(h, op, status))
			}
		}
	}
	vcPublishRecommendations(cl, recs)
}

// vcApplyHostOp carries out a Proactive HA action on a host.
func vcApplyHostOp(h *simulator.HostSystem, op string) {
	on, off := true, false
	switch op {
	case "enterQuarantine":
		vcSetHostMode(h, nil, &on)
		vcDRSEvacuate(h, vcPoweredOnVMs(h))
	case "evacuate":
		vcDRSEvacuate(h, vcPoweredOnVMs(h))
	case "enterMaintenance":
		vcStartEnterMaintenance(h, "", 0, true)
	case "exitQuarantine":
		vcSetHostMode(h, nil, &off)
	}
}

// --- DRS placement -----------------------------------------------------------------------------

// vcDRSTarget picks where DRS moves a VM off its host, nil when no host of the cluster fits.
func vcDRSTarget(vm *simulator.VirtualMachine, src *simulator.HostSystem) *simulator.HostSystem {
	if src.Parent == nil {
		return nil
	}
	cr := vcComputeResource(*src.Parent)
	if cr == nil {
		return nil
	}
	_, _, iuha := vcClusterConfig(*src.Parent)
	type candidate struct {
		h   *simulator.HostSystem
		vms int
	}
	var fits []candidate
	for _, ref := range cr.Host {
		h, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
		if !ok || h.Self == src.Self || !vcConnected(h) || vcIsEntering(h.Self) {
			continue
		}
		if maintenance, quarantine := vcHostModes(h); maintenance || quarantine {
			continue
		}
		if status, _ := vcHostHealth(h.Self, iuha.Providers); status == types.ManagedEntityStatusYellow || status == types.ManagedEntityStatusRed {
			continue
		}
		var fault *vcMoveFault
		n := 0
		simulator.Map.WithLock(vm, func() {
			fault = vcCheckPlacement(vm, &vcPlacement{host: h, pool: *vm.ResourcePool, diskDS: map[int32]*simulator.Datastore{}})
		})
		simulator.Map.WithLock(h, func() { n = len(h.Vm) })
		if fault == nil {
			fits = append(fits, candidate{h, n})
		}
	}
	if len(fits) == 0 {
		return nil
	}
	sort.Slice(fits, func(i, j int) bool {
		if fits[i].vms != fits[j].vms {
			return fits[i].vms < fits[j].vms
		}
		return fits[i].h.Name < fits[j].h.Name
	})
	return fits[0].h
}

// vcDRSEvacuate starts DRS's vMotion of each VM that is not migrating already and has a target.
func vcDRSEvacuate(src *simulator.HostSystem, vms []*simulator.VirtualMachine) {
	for _, vm := range vms {
		vcTasks.Lock()
		_, busy := vcTasks.busy[vm.Self]
		vcTasks.Unlock()
		if busy {
			continue
		}
		if target := vcDRSTarget(vm, src); target != nil {
			vcDRSMigrate(vm, target)
		}
	}
}

// vcDRSMigrate vMotions a VM as DRS does: a task of vCenter's own, DrsVmMigratedEvent.
func vcDRSMigrate(vm *simulator.VirtualMachine, target *simulator.HostSystem) {
	ctx := vcSystemContext()
	simulator.Map.WithLock(vm, func() {
		if vm.ResourcePool == nil || vm.Runtime.Host == nil || *vm.Runtime.Host == target.Self {
			return
		}
		p := &vcPlacement{host: target, pool: *vm.ResourcePool, diskDS: map[int32]*simulator.Datastore{}, drs: true}
		mv := vcMove{
			check: func() *vcMoveFault { return vcCheckPlacement(vm, p) },
			apply: func() { vcMovePlacement(ctx, vm, p, false) },
		}
		task := simulator.CreateTask(vm, "migrateVm", nil)
		vcSetTaskInfo(nil, task, "MigrateVM_Task", "Drm.ExecuteVMotionLRO", vm.Name)
		task.Info.Reason = &types.TaskReasonSystem{}
		vcStartMove(vm, task, mv)
	})
}

// --- recommendations (Manual behaviour) ---------------------------------------------------------

var vcRecommendationText = map[string]string{ // the lab's wording: vCenter's catalog text is not public
	"hostInDegradation":   "Host is in degradation.",
	"hostExitDegradation": "Host is not in degradation.",
}

func vcRecommendationKey(h types.ManagedObjectReference, op string) string {
	vcInfraUpdateHa.mu.Lock()
	defer vcInfraUpdateHa.mu.Unlock()
	id := h.Value + "\x00" + op
	if k, ok := vcInfraUpdateHa.keys[id]; ok {
		return k
	}
	vcInfraUpdateHa.seq++
	k := "iuha-" + strconv.Itoa(vcInfraUpdateHa.seq)
	vcInfraUpdateHa.keys[id] = k
	return k
}

func vcRecommendation(h *simulator.HostSystem, op string, status types.ManagedEntityStatus) types.ClusterRecommendation {
	host := h.Self
	now := time.Now()
	key := vcRecommendationKey(host, op)
	reason, rating := "hostInDegradation", int32(5)
	if op == "exitQuarantine" {
		reason, rating = "hostExitDegradation", 3
	} else if status == types.ManagedEntityStatusYellow {
		rating = 4
	}
	actions := []types.BaseClusterAction{&types.ClusterHostInfraUpdateHaModeAction{
		ClusterAction: types.ClusterAction{Type: string(types.ActionTypeHostInfraUpdateHaV1), Target: &host},
		OperationType: op,
	}}
	if op != "exitQuarantine" {
		for i, vm := range vcPoweredOnVMs(h) {
			if target := vcDRSTarget(vm, h); target != nil {
				vmRef := vm.Self
				actions = append(actions, &types.ClusterMigrationAction{
					ClusterAction: types.ClusterAction{Type: string(types.ActionTypeMigrationV1), Target: &vmRef},
					DrsMigration:  &types.ClusterDrsMigration{Key: fmt.Sprintf("%s-%d", key, i+1), Time: now, Vm: vmRef, Source: host, Destination: target.Self},
				})
			}
		}
	}
	return types.ClusterRecommendation{Key: key, Type: "V1", Time: now, Rating: rating, Reason: reason,
		ReasonText: vcRecommendationText[reason], Target: &host, Action: actions}
}

// vcPublishRecommendations replaces the cluster's recommendation list when it changed (a
// recommendation that still stands keeps its key and time).
func vcPublishRecommendations(cl *simulator.ClusterComputeResource, recs []types.ClusterRecommendation) {
	simulator.Map.WithLock(cl, func() {
		old := map[string]types.ClusterRecommendation{}
		for _, r := range cl.Recommendation {
			old[r.Key] = r
		}
		same := len(old) == len(recs)
		for i := range recs {
			if prev, ok := old[recs[i].Key]; ok {
				recs[i].Time = prev.Time
			} else {
				same = false
			}
		}
		if same {
			return
		}
		simulator.Map.Update(cl, []types.PropertyChange{{Name: "recommendation", Val: recs}})
	})
}

func vcHandleApplyRecommendation(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.ApplyRecommendation)
	cl, ok := simulator.Map.Get(req.This).(*simulator.ClusterComputeResource)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	if denied := vcCheckPrivilege(ctx, "Resource.ApplyRecommendation", cl.Self); denied != nil {
		return denied
	}
	var rec *types.ClusterRecommendation
	simulator.Map.WithLock(cl, func() {
		for i := range cl.Recommendation {
			if cl.Recommendation[i].Key == req.Key {
				r := cl.Recommendation[i]
				rec = &r
			}
		}
	})
	if rec == nil {
		return vcInvalidArgument("key", "No recommendation with this key.")
	}
	for _, a := range rec.Action {
		action, ok := a.(*types.ClusterHostInfraUpdateHaModeAction)
		if !ok || action.Target == nil {
			continue
		}
		if h, ok := simulator.Map.Get(*action.Target).(*simulator.HostSystem); ok {
			vcApplyHostOp(h, action.OperationType)
		}
	}
	vcInfraUpdateHa.run.Lock()
	simulator.Map.WithLock(cl, func() {
		var kept []types.ClusterRecommendation
		for _, r := range cl.Recommendation {
			if r.Key != req.Key {
				kept = append(kept, r)
			}
		}
		simulator.Map.Update(cl, []types.PropertyChange{{Name: "recommendation", Val: kept}})
	})
	vcInfraUpdateHa.run.Unlock()
	vcInfraUpdateHaKick(cl.Self)
	return &methods.ApplyRecommendationBody{Res: &types.ApplyRecommendationResponse{}}
}
