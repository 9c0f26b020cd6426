package main

// CloneVM_Task: the simulator's clone, plus what vCenter carries to the clone that the simulator
// drops: the virtual hardware version (a clone keeps its source's config.version; the simulator
// gives it its default vmx-13) and the VM data sets (API reference, DataSets.CreateSpec: a data
// set is copied "when a virtual machine is cloned" unless omit_from_snapshot_and_clone is set).
// Cloned VMs are objects created through the API: not journaled (journal.go), so neither are
// their data sets.

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vcCallFixes["CloneVM_Task"] = vcHandleCloneVM
}

func vcHandleCloneVM(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.CloneVM_Task)
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	if denied := vcCheckPrivilege(ctx, "VirtualMachine.Provisioning.Clone", vm.Self); denied != nil {
		return denied
	}
	var res soap.HasFault
	var version string
	simulator.Map.WithLock(vm, func() {
		version = vm.Config.Version
		res = vm.CloneVMTask(ctx, req) // synchronous in 0.24.2: the clone exists when it returns
	})
	body, ok := res.(*methods.CloneVM_TaskBody)
	if !ok || body.Res == nil {
		return res
	}
	task, ok := simulator.Map.Get(body.Res.Returnval).(*simulator.Task)
	if !ok {
		return res
	}
	var cloneRef types.ManagedObjectReference
	simulator.Map.WithLock(task, func() {
		if task.Info.State == types.TaskInfoStateSuccess {
			cloneRef, _ = task.Info.Result.(types.ManagedObjectReference)
		}
	})
	clone, ok := simulator.Map.Get(cloneRef).(*simulator.VirtualMachine)
	if !ok {
		return res
	}
	simulator.Map.WithLock(clone, func() {
		simulator.Map.Update(clone, []types.PropertyChange{{Name: "config.version", Val: version}})
	})
	vcCopyDataSets(vm.Self.Value, clone.Self.Value)
	return res
}

// vcCopyDataSets gives a clone its source's data sets, entries included, except those omitted
// from snapshots and clones.
func vcCopyDataSets(from, to string) {
	vcDataSets.Lock()
	defer vcDataSets.Unlock()
	var copies []*vcDataSet
	for _, d := range vcDataSets.byVM[from] {
		if d.Omit {
			continue
		}
		c := *d
		c.entries = make(map[string]string, len(d.entries))
		for k, v := range d.entries {
			c.entries[k] = v
		}
		copies = append(copies, &c)
	}
	if len(copies) > 0 {
		vcDataSets.byVM[to] = copies
	}
}
