package main

// Powering VMs off and on, with what vCenter shows around it.
//
// PowerOffVM_Task, PowerOnVM_Task and ShutdownGuest go to the simulator (its power state, events
// VmPoweredOffEvent, VmGuestShutdownEvent, ...), and the lab adds what the simulator leaves out:
//   - a power-off (and a guest shutdown, which ends in one) drops the guestinfo keys written while
//     the VM ran (virtual_machine_guestinfo.go), publishing config.extraConfig;
//   - VMware Tools stop and start with the guest: guest.toolsRunningStatus, guest.guestState,
//     summary.guest and the heartbeat (gray while off);
//   - the swap files go and come (layoutEx, committed storage, the datastores' free space:
//     virtual_machine_layout.go);
//   - ShutdownGuest needs VMware Tools running (ToolsUnavailable otherwise), as on vCenter;
//   - the privileges VirtualMachine.Interact.PowerOff / PowerOn (authorization_manager.go);
//   - the power state is journaled (vCenter keeps it in its database; it is the host's reality):
//     {"t":"power","vm":"app01","state":"poweredOff"}; the replay sets the state only, the
//     journaled extraConfig already lacks what the power-off dropped.
// PowerOnMultiVM_Task, ResetVM_Task, SuspendVM_Task and RebootGuest stay the simulator's: a reset
// and a guest reboot keep the VMX running (nothing volatile is lost); suspend is not modeled.

import (
	"fmt"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vcCallFixes["PowerOffVM_Task"] = vcHandlePowerOff
	vcCallFixes["PowerOnVM_Task"] = vcHandlePowerOn
	vcCallFixes["ShutdownGuest"] = vcHandleShutdownGuest
	registerJournalLatest("power", func(e *journalEntry) string {
		var r struct {
			VM string `json:"vm"`
		}
		_ = e.decode(&r)
		return r.VM
	}, replayPower)
}

func vcHandlePowerOff(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	return vcPowerTask(ctx, "VirtualMachine.Interact.PowerOff", func(vm *simulator.VirtualMachine) soap.HasFault {
		res := vm.PowerOffVMTask(ctx, method.Body.(*types.PowerOffVM_Task))
		if vcPowerTaskDone(ctx, res, "PowerOffVM_Task", "VirtualMachine.powerOff", vm.Name) {
			vcPoweredOff(vm)
		}
		return res
	})
}

func vcHandlePowerOn(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	return vcPowerTask(ctx, "VirtualMachine.Interact.PowerOn", func(vm *simulator.VirtualMachine) soap.HasFault {
		res := vm.PowerOnVMTask(ctx, method.Body.(*types.PowerOnVM_Task))
		if vcPowerTaskDone(ctx, res, "PowerOnVM_Task", "VirtualMachine.powerOn", vm.Name) {
			vcPoweredOn(vm)
		}
		return res
	})
}

func vcHandleShutdownGuest(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	return vcPowerTask(ctx, "VirtualMachine.Interact.PowerOff", func(vm *simulator.VirtualMachine) soap.HasFault {
		if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn &&
			vm.Guest.ToolsRunningStatus != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
			return vcFault(&types.ToolsUnavailable{}, fmt.Sprintf("Cannot complete operation because VMware Tools is not running in this virtual machine (%s).", vm.Name))
		}
		res := vm.ShutdownGuest(ctx, method.Body.(*types.ShutdownGuest))
		if res.Fault() == nil {
			vcPoweredOff(vm)
		}
		return res
	})
}

// vcPowerTask checks the privilege, runs power under the VM's lock, then updates the free space of
// the VM's datastores (its swap files come or go).
func vcPowerTask(ctx *simulator.Context, privilege string, power func(*simulator.VirtualMachine) soap.HasFault) soap.HasFault {
	vm, ok := simulator.Map.Get(*ctx.Caller).(*simulator.VirtualMachine)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: *ctx.Caller}, "")
	}
	if denied := vcCheckPrivilege(ctx, privilege, vm.Self); denied != nil {
		return denied
	}
	var res soap.HasFault
	var datastores []types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		res = power(vm)
		datastores = append(datastores, vm.Datastore...)
	})
	vcRefreshDatastoreUsage(datastores, nil)
	return res
}

// vcPowerTaskDone names the simulator's power task as vCenter does and tells whether it succeeded.
func vcPowerTaskDone(ctx *simulator.Context, res soap.HasFault, name, description, entity string) bool {
	var ref types.ManagedObjectReference
	switch b := res.(type) {
	case *methods.PowerOffVM_TaskBody:
		if b.Res == nil {
			return false
		}
		ref = b.Res.Returnval
	case *methods.PowerOnVM_TaskBody:
		if b.Res == nil {
			return false
		}
		ref = b.Res.Returnval
	default:
		return false
	}
	task, ok := simulator.Map.Get(ref).(*simulator.Task)
	if !ok {
		return false
	}
	vcSetTaskInfo(ctx, task, name, description, entity)
	return task.Info.State == types.TaskInfoStateSuccess
}

// vcPoweredOff: what a power-off does beyond the power state. The caller holds the VM's lock.
func vcPoweredOff(vm *simulator.VirtualMachine) {
	vcForgetVolatileGuestinfo(vm)
	vcSetToolsState(vm, false)
	vcRefreshLayout(vm)
	vcJournal.write("power", map[string]interface{}{"vm": vm.Name, "state": string(types.VirtualMachinePowerStatePoweredOff)})
}

// vcPoweredOn: what a power-on does beyond the power state. The caller holds the VM's lock.
func vcPoweredOn(vm *simulator.VirtualMachine) {
	vcSetToolsState(vm, true)
	vcRefreshLayout(vm)
	vcJournal.write("power", map[string]interface{}{"vm": vm.Name, "state": string(types.VirtualMachinePowerStatePoweredOn)})
}

// vcSetToolsState: VMware Tools run while the guest does (the lab's guests all have Tools).
func vcSetToolsState(vm *simulator.VirtualMachine, running bool) {
	guest := vm.Guest
	if guest == nil {
		guest = &types.GuestInfo{}
	}
	g := *guest
	heartbeat := types.ManagedEntityStatusGray
	if running {
		g.ToolsRunningStatus = string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
		g.ToolsStatus = types.VirtualMachineToolsStatusToolsOk
		g.GuestState = "running"
		heartbeat = types.ManagedEntityStatusGreen
	} else {
		g.ToolsRunningStatus = string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)
		g.ToolsStatus = types.VirtualMachineToolsStatusToolsNotRunning
		g.GuestState = "notRunning"
		g.IpAddress = ""
		g.Net = nil
	}
	summary := types.VirtualMachineGuestSummary{}
	if vm.Summary.Guest != nil {
		summary = *vm.Summary.Guest
	}
	summary.ToolsStatus, summary.ToolsRunningStatus, summary.IpAddress = g.ToolsStatus, g.ToolsRunningStatus, g.IpAddress
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "guest", Val: &g},
		{Name: "summary.guest", Val: &summary},
		{Name: "guestHeartbeatStatus", Val: heartbeat},
		{Name: "summary.quickStats.guestHeartbeatStatus", Val: heartbeat},
	})
}

func replayPower(l *Lab, e *journalEntry) error {
	var r struct {
		VM    string `json:"vm"`
		State string `json:"state"`
	}
	if err := e.decode(&r); err != nil {
		return err
	}
	vm, err := l.vmByName(r.VM)
	if err != nil {
		return err
	}
	state := types.VirtualMachinePowerState(r.State)
	if state != types.VirtualMachinePowerStatePoweredOn && state != types.VirtualMachinePowerStatePoweredOff {
		return fmt.Errorf("unknown power state %q", r.State)
	}
	simulator.Map.WithLock(vm, func() {
		var boot interface{}
		if state == types.VirtualMachinePowerStatePoweredOn {
			boot = time.Now()
		}
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "runtime.powerState", Val: state},
			{Name: "summary.runtime.powerState", Val: state},
			{Name: "summary.runtime.bootTime", Val: boot},
		})
		vcSetToolsState(vm, state == types.VirtualMachinePowerStatePoweredOn)
		vcRefreshLayout(vm)
	})
	vcRefreshDatastoreUsage(vm.Datastore, nil)
	return nil
}
