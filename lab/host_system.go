package main

// HostSystem as vCenter shows it when a host's connection changes, and the calls vCenter refuses
// while it cannot reach the host.
//   - runtime.connectionState (and summary's), and the events vCenter posts: HostConnectionLostEvent
//     ("not responding"), HostDisconnectedEvent, HostConnectedEvent when it is connected again;
//   - overallStatus: gray while disconnected, else the worst of the host's triggered alarms
//     (alarm_manager.go: "Host connection and power state" is red while it does not respond);
//   - its VMs: runtime.connectionState disconnected (the API has no other value for a VM whose host
//     vCenter cannot reach: VirtualMachineConnectionState), overallStatus gray, guest state unknown
//     (guest.guestState "unknown", guestHeartbeatStatus gray), back as they were when it returns;
//   - vCenter keeps the last values the host reported (faults.go publishes nothing for it) and
//     refuses what needs the host: the HostStorageSystem calls, ReconfigVM_Task of its VMs (task
//     error), migrations from or to it (virtual_machine_migrate.go). A disconnected host answers
//     HostNotConnected ("thrown if a method needs to communicate with a host that has been
//     disconnected"), a not responding one HostNotReachable ("the server was unable to communicate
//     with the host"): API reference, the two faults.

import (
	"fmt"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	connConnected     = "connected"
	connDisconnected  = "disconnected"
	connNotResponding = "notResponding"
)

// hostUnreachable is the fault of a call that needs the host while vCenter cannot reach it (nil when
// it can).
func (l *Lab) hostUnreachable(h *host) *soap.Fault {
	l.san.mu.Lock()
	conn := h.conn
	l.san.mu.Unlock()
	if fault, msg := hostCommunication(h.name, conn); fault != nil {
		return simulator.Fault(msg, fault)
	}
	return nil
}

// hostCommunication: the fault and message of a call that needs a host in this connection state.
func hostCommunication(name, conn string) (types.BaseMethodFault, string) {
	switch conn {
	case connDisconnected:
		return &types.HostNotConnected{}, "Unable to communicate with the remote host, since it is disconnected."
	case connNotResponding:
		return &types.HostNotReachable{}, fmt.Sprintf("Cannot contact the specified host (%s). The host may not be "+
			"available on the network, a network configuration problem may exist, or the management services on this "+
			"host may not be responding.", name)
	}
	return nil, ""
}

// vcHostConn: the name and connection state of the lab host a VM runs on, for ReconfigVM_Task.
func (l *Lab) vcHostConn(ref *types.ManagedObjectReference) (string, string) {
	if ref == nil {
		return "", connConnected
	}
	for _, h := range l.san.hosts {
		if h.inv.ref == *ref {
			l.san.mu.Lock()
			defer l.san.mu.Unlock()
			return h.name, h.conn
		}
	}
	return "", connConnected
}

// vmSaved: what a VM showed before its host stopped answering, given back when it answers again.
type vmSaved struct {
	status      types.ManagedEntityStatus
	guestState  string
	heartbeat   types.ManagedEntityStatus
	hasGuestMap bool
}

var (
	vmSavedMu sync.Mutex
	vmSavedBy = map[types.ManagedObjectReference]vmSaved{}
)

// publishConn sets a host's connection state, posts vCenter's event for it, and sets its VMs.
func (l *Lab) publishConn(ctx *simulator.Context, h *host, state string) {
	hs := h.inv.mo
	var vms []types.ManagedObjectReference
	changed := false
	withLock(ctx, hs, func() {
		if string(hs.Runtime.ConnectionState) != state {
			changed = true
			st := types.HostSystemConnectionState(state)
			simulator.Map.Update(hs, []types.PropertyChange{
				{Name: "runtime.connectionState", Val: st},
				{Name: "summary.runtime.connectionState", Val: st},
			})
		}
		vms = append(vms, hs.Vm...)
	})
	for _, ref := range vms {
		vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		if ok {
			withLock(ctx, vm, func() { publishVMConn(vm, state) })
		}
	}
	if changed && !vcReplaying {
		args := vcEventArgs(h.inv.ref)
		var ev types.BaseEvent
		switch state {
		case connNotResponding:
			ev = &types.HostConnectionLostEvent{HostEvent: types.HostEvent{Event: args}}
		case connDisconnected:
			ev = &types.HostDisconnectedEvent{HostEvent: types.HostEvent{Event: args}, Reason: "userRequest"}
		default:
			ev = &types.HostConnectedEvent{HostEvent: types.HostEvent{Event: args}}
		}
		vcPostEvents(l.ctx, ev)
	}
	vcAlarmHostConnection(h, state)
	publishHostStatus(h)
}

func publishVMConn(vm *simulator.VirtualMachine, state string) {
	want := types.VirtualMachineConnectionStateConnected
	if state != connConnected {
		want = types.VirtualMachineConnectionStateDisconnected
	}
	if vm.Runtime.ConnectionState == want {
		return
	}
	changes := []types.PropertyChange{
		{Name: "runtime.connectionState", Val: want},
		{Name: "summary.runtime.connectionState", Val: want},
	}
	vmSavedMu.Lock()
	defer vmSavedMu.Unlock()
	if want == types.VirtualMachineConnectionStateDisconnected {
		saved := vmSaved{status: vm.OverallStatus, hasGuestMap: vm.Guest != nil}
		if vm.Guest != nil {
			saved.guestState, saved.heartbeat = vm.Guest.GuestState, vm.GuestHeartbeatStatus
			changes = append(changes,
				types.PropertyChange{Name: "guest.guestState", Val: "unknown"},
				types.PropertyChange{Name: "guestHeartbeatStatus", Val: types.ManagedEntityStatusGray})
		}
		vmSavedBy[vm.Self] = saved
		changes = append(changes,
			types.PropertyChange{Name: "overallStatus", Val: types.ManagedEntityStatusGray},
			types.PropertyChange{Name: "summary.overallStatus", Val: types.ManagedEntityStatusGray})
	} else if saved, ok := vmSavedBy[vm.Self]; ok {
		delete(vmSavedBy, vm.Self)
		if saved.hasGuestMap && vm.Guest != nil {
			changes = append(changes,
				types.PropertyChange{Name: "guest.guestState", Val: saved.guestState},
				types.PropertyChange{Name: "guestHeartbeatStatus", Val: saved.heartbeat})
		}
		changes = append(changes,
			types.PropertyChange{Name: "overallStatus", Val: saved.status},
			types.PropertyChange{Name: "summary.overallStatus", Val: saved.status})
	}
	simulator.Map.Update(vm, changes)
}

// publishHostStatus sets overallStatus (and summary's) from the connection and the triggered alarms.
func publishHostStatus(h *host) {
	hs := h.inv.mo
	status := vcAlarmStatus(h.inv.ref)
	simulator.Map.WithLock(hs, func() {
		if hs.Runtime.ConnectionState == types.HostSystemConnectionStateDisconnected {
			status = types.ManagedEntityStatusGray
		}
		if hs.OverallStatus == status {
			return
		}
		simulator.Map.Update(hs, []types.PropertyChange{
			{Name: "overallStatus", Val: status},
			{Name: "summary.overallStatus", Val: status},
		})
	})
}
