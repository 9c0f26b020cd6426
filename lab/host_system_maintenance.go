package main

// Host maintenance and quarantine modes, as vCenter runs them.
//
// EnterMaintenanceMode_Task (API reference, HostSystem): the task runs until no powered-on VM is
// left on the host (powered-off ones stay registered), then runtime.inMaintenanceMode turns true;
// in a DRS cluster that is fully automated DRS vMotions the VMs away itself (to hosts that are
// connected, not in maintenance or quarantine mode, and reach the VMs' storage), otherwise the
// administrator moves them; a positive timeout (seconds) ends a task that waits longer in a
// Timedout fault; a host already in maintenance mode is InvalidState. vCenter posts
// EnteringMaintenanceModeEvent, then EnteredMaintenanceModeEvent. ExitMaintenanceMode_Task
// clears the mode (ExitMaintenanceModeEvent), or cancels an entry still waiting; InvalidState
// when the host is in neither. Both need Host.Config.Maintenance. The 0.24.2 simulator flips the
// flag at once, publishes nothing and posts no event.
//
// runtime.inQuarantineMode (vSphere 6.5) is set and cleared by Proactive HA's remediation
// (cluster_infra_update_ha.go), which also enters maintenance mode through the same task.
//
// The modes are the host's own state and vCenter's database keeps them: journaled, the last
// state per host:
//
//	{"t":"host_mode","host":"esx-a01","maintenance":true,"quarantine":false}

import (
	"fmt"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// vcEntering is an EnterMaintenanceMode_Task still waiting for the host's VMs to leave.
type vcEntering struct {
	task   *simulator.Task
	cancel chan struct{}
	once   sync.Once
}

var vcMaintenance = struct {
	sync.Mutex
	entering map[types.ManagedObjectReference]*vcEntering
}{entering: map[types.ManagedObjectReference]*vcEntering{}}

func init() {
	vcCallFixes["EnterMaintenanceMode_Task"] = vcHandleEnterMaintenance
	vcCallFixes["ExitMaintenanceMode_Task"] = vcHandleExitMaintenance
	registerJournalLatest("host_mode", func(e *journalEntry) string {
		var r vcHostModeRecord
		_ = e.decode(&r)
		return r.Host
	}, replayHostMode)
}

type vcHostModeRecord struct {
	Host        string `json:"host"`
	Maintenance bool   `json:"maintenance"`
	Quarantine  bool   `json:"quarantine"`
}

// vcHostModes reads a host's maintenance and quarantine flags.
func vcHostModes(h *simulator.HostSystem) (maintenance, quarantine bool) {
	simulator.Map.WithLock(h, func() {
		maintenance = h.Runtime.InMaintenanceMode
		quarantine = h.Runtime.InQuarantineMode != nil && *h.Runtime.InQuarantineMode
	})
	return
}

func vcIsEntering(h types.ManagedObjectReference) bool {
	vcMaintenance.Lock()
	defer vcMaintenance.Unlock()
	return vcMaintenance.entering[h] != nil
}

// vcSetHostMode changes a host's modes (nil: unchanged), publishes and journals them.
func vcSetHostMode(h *simulator.HostSystem, maintenance, quarantine *bool) {
	var rec vcHostModeRecord
	simulator.Map.WithLock(h, func() {
		var changes []types.PropertyChange
		if maintenance != nil {
			changes = append(changes,
				types.PropertyChange{Name: "runtime.inMaintenanceMode", Val: *maintenance},
				types.PropertyChange{Name: "summary.runtime.inMaintenanceMode", Val: *maintenance})
		}
		if quarantine != nil {
			changes = append(changes,
				types.PropertyChange{Name: "runtime.inQuarantineMode", Val: *quarantine},
				types.PropertyChange{Name: "summary.runtime.inQuarantineMode", Val: *quarantine})
		}
		simulator.Map.Update(h, changes)
		rec = vcHostModeRecord{Host: h.Name, Maintenance: h.Runtime.InMaintenanceMode,
			Quarantine: h.Runtime.InQuarantineMode != nil && *h.Runtime.InQuarantineMode}
	})
	vcJournal.write("host_mode", map[string]interface{}{"host": rec.Host, "maintenance": rec.Maintenance, "quarantine": rec.Quarantine})
}

func replayHostMode(l *Lab, e *journalEntry) error {
	var r vcHostModeRecord
	if err := e.decode(&r); err != nil {
		return err
	}
	for _, obj := range simulator.Map.All("HostSystem") {
		if h, ok := obj.(*simulator.HostSystem); ok && h.Name == r.Host {
			vcSetHostMode(h, &r.Maintenance, &r.Quarantine)
			return nil
		}
	}
	return fmt.Errorf("unknown host %q", r.Host)
}

// vcPoweredOnVMs lists the powered-on VMs running on a host.
func vcPoweredOnVMs(h *simulator.HostSystem) []*simulator.VirtualMachine {
	var refs []types.ManagedObjectReference
	simulator.Map.WithLock(h, func() { refs = append(refs, h.Vm...) })
	var out []*simulator.VirtualMachine
	for _, ref := range refs {
		vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		on := false
		simulator.Map.WithLock(vm, func() {
			on = vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn && vm.Runtime.Host != nil && *vm.Runtime.Host == h.Self
		})
		if on {
			out = append(out, vm)
		}
	}
	return out
}

// vcSystemContext is the context of what vCenter does by itself (DRS, Proactive HA): its events
// carry no user.
func vcSystemContext() *simulator.Context {
	ctx := newInternalContext()
	ctx.Session.UserName = ""
	return ctx
}

func vcHandleEnterMaintenance(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.EnterMaintenanceMode_Task)
	h, ok := simulator.Map.Get(req.This).(*simulator.HostSystem)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	if denied := vcCheckPrivilege(ctx, "Host.Config.Maintenance", h.Self); denied != nil {
		return denied
	}
	evacuate := false
	if h.Parent != nil && h.Parent.Type == "ClusterComputeResource" {
		_, drs, _ := vcClusterConfig(*h.Parent)
		evacuate = drs.Enabled != nil && *drs.Enabled && drs.DefaultVmBehavior == types.DrsBehaviorFullyAutomated
	}
	task := vcStartEnterMaintenance(h, ctx.Session.UserName, req.Timeout, evacuate)
	return &methods.EnterMaintenanceMode_TaskBody{Res: &types.EnterMaintenanceMode_TaskResponse{Returnval: task.Self}}
}

// vcStartEnterMaintenance starts an EnterMaintenanceMode_Task (user "": vCenter's own, for
// Proactive HA); evacuate lets DRS move the VMs.
func vcStartEnterMaintenance(h *simulator.HostSystem, user string, timeout int32, evacuate bool) *simulator.Task {
	task := simulator.CreateTask(h, "enterMaintenanceMode", nil)
	vcSetTaskInfo(nil, task, "EnterMaintenanceMode_Task", "HostSystem.enterMaintenanceMode", h.Name)
	if user == "" {
		task.Info.Reason = &types.TaskReasonSystem{}
	} else {
		task.Info.Reason = &types.TaskReasonUser{UserName: user}
	}
	maintenance, _ := vcHostModes(h)
	vcMaintenance.Lock()
	busy := vcMaintenance.entering[h.Self] != nil
	e := &vcEntering{task: task, cancel: make(chan struct{})}
	if !maintenance && !busy {
		vcMaintenance.entering[h.Self] = e
	}
	vcMaintenance.Unlock()
	if maintenance || busy {
		vcFinishTask(task, &types.InvalidState{}, "The operation is not allowed in the current state of the host.", false)
		return task
	}
	simulator.Map.WithLock(task, func() {
		simulator.Map.Update(task, []types.PropertyChange{
			{Name: "info.startTime", Val: time.Now()},
			{Name: "info.state", Val: types.TaskInfoStateRunning},
			{Name: "info.cancelable", Val: true},
			{Name: "info.progress", Val: int32(2)},
		})
	})
	ctx := vcSystemContext()
	if user != "" {
		ctx.Session.UserName = user
	}
	vcPostEvents(ctx, &types.EnteringMaintenanceModeEvent{HostEvent: types.HostEvent{Event: vcEventArgs(h.Self)}})
	go vcWaitForMaintenance(ctx, h, e, timeout, evacuate)
	return task
}

// vcWaitForMaintenance completes an entry once the host has no powered-on VM left.
func vcWaitForMaintenance(ctx *simulator.Context, h *simulator.HostSystem, e *vcEntering, timeout int32, evacuate bool) {
	defer func() {
		vcMaintenance.Lock()
		if vcMaintenance.entering[h.Self] == e {
			delete(vcMaintenance.entering, h.Self)
		}
		vcMaintenance.Unlock()
	}()
	deadline := time.Now().Add(time.Duration(timeout) * time.Second)
	for {
		left := vcPoweredOnVMs(h)
		if len(left) == 0 {
			on := true
			vcSetHostMode(h, &on, nil)
			vcPostEvents(ctx, &types.EnteredMaintenanceModeEvent{HostEvent: types.HostEvent{Event: vcEventArgs(h.Self)}})
			vcSetProgress(e.task, 100)
			vcFinishTask(e.task, nil, "", false)
			if h.Parent != nil {
				vcInfraUpdateHaKick(*h.Parent)
			}
			return
		}
		if evacuate {
			vcDRSEvacuate(h, left)
		}
		if timeout > 0 && time.Now().After(deadline) {
			vcFinishTask(e.task, &types.Timedout{}, "The operation timed out: powered-on virtual machines remain on the host.", false)
			return
		}
		if !vcSleep(e.cancel, 200*time.Millisecond) {
			vcFinishTask(e.task, &types.RequestCanceled{}, vcCanceledMessage, true)
			return
		}
	}
}

func vcHandleExitMaintenance(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.ExitMaintenanceMode_Task)
	h, ok := simulator.Map.Get(req.This).(*simulator.HostSystem)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	if denied := vcCheckPrivilege(ctx, "Host.Config.Maintenance", h.Self); denied != nil {
		return denied
	}
	task := simulator.CreateTask(h, "exitMaintenanceMode", nil)
	vcSetTaskInfo(ctx, task, "ExitMaintenanceMode_Task", "HostSystem.exitMaintenanceMode", h.Name)
	var refusal *vcMoveFault
	task.Execute = func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vcMaintenance.Lock()
		e := vcMaintenance.entering[h.Self]
		vcMaintenance.Unlock()
		if e != nil { // an entry still waiting: canceled
			e.once.Do(func() { close(e.cancel) })
			return nil, nil
		}
		if maintenance, _ := vcHostModes(h); !maintenance {
			refusal = &vcMoveFault{&types.InvalidState{}, "The operation is not allowed in the current state of the host."}
			return nil, refusal.fault
		}
		off := false
		vcSetHostMode(h, &off, nil)
		vcPostEvents(ctx, &types.ExitMaintenanceModeEvent{HostEvent: types.HostEvent{Event: vcEventArgs(h.Self)}})
		return nil, nil
	}
	ref := vcRunTask(task, &refusal)
	if h.Parent != nil {
		vcInfraUpdateHaKick(*h.Parent)
	}
	return &methods.ExitMaintenanceMode_TaskBody{Res: &types.ExitMaintenanceMode_TaskResponse{Returnval: ref}}
}
