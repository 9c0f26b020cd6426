package main

// vMotion and Storage vMotion, as vsguesttruth's remediation uses them.
//
// MigrateVM_Task(pool, host, priority, state) (MethodNotFound in 0.24.2) and RelocateVM_Task(spec)
// (in 0.24.2 it only rewrote runtime.host/datastore and even removed the wrong references) behave
// like vCenter:
//   - the VM moves to the target host and pool: runtime.host, summary.runtime.host, resourcePool,
//     host.vm of the source and the target host, resourcePool.vm of both pools;
//   - RelocateVM_Task moves storage: spec.datastore takes the VM home (config.files,
//     summary.config.vmPathName) and every disk that spec.disk does not place elsewhere; a disk
//     moves with its whole snapshot delta chain (vSphere 5+). Disk backings get the new
//     "[datastore] path" fileName and backing.datastore; layout, layoutEx, storage, the VM's
//     datastore list and datastore.vm of old and new datastores follow; snapshot configs too;
//     the simulator's files on disk are moved along (best effort);
//   - vCenter's compatibility checks refuse the move (task error) when the target host is not
//     connected (InvalidHostConnectionState) or in maintenance (InvalidHostState), when a datastore
//     the VM would use is not mounted or not accessible on the target host (DatastoreNotWritableOnHost:
//     APD/PDL mounts count as not accessible) or when an RDM's LUN is not presented to it
//     (RDMPointsToInaccessibleDisk); the source host must be connected too. Only the target side
//     of storage is checked: a relocation off a failed (PDL) datastore to its replica is allowed;
//   - arguments: MigrateVM_Task with host and pool in different compute resources, or a pool in
//     another compute resource than the VM's without a host... are InvalidArgument (method fault),
//     as the API reference states; without host, a standalone host's pool uses that host and a DRS
//     cluster picks the first compatible host by name; RelocateVM_Task with only spec.host in
//     another compute resource uses that compute resource's root pool;
//   - `state` (MigrateVM_Task): the VM must be in that power state (InvalidPowerState);
//   - events VmBeing(Hot)MigratedEvent + VmMigratedEvent, VmBeingRelocatedEvent + VmRelocatedEvent;
//   - every change is published (Map.Update), so WaitForUpdatesEx watchers see it;
//   - task names MigrateVM_Task / RelocateVM_Task with vCenter's description ids;
//   - the task runs in the control API's task mode (task_manager.go: slow, hang, fail), and the
//     caller needs Resource.HotMigrate (powered-on VM) or Resource.ColdMigrate (authorization_manager.go).
// This file takes the call, resolves the target and runs vCenter's checks; the move itself is
// virtual_machine_placement.go, the disks and files it carries virtual_machine_files.go.

import (
	"fmt"
	dspath "path"
	"sort"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vcCallFixes["MigrateVM_Task"] = vcHandleMigrateVM
	vcCallFixes["RelocateVM_Task"] = vcHandleRelocateVM
}

// vcMoveFault is a refusal with vCenter's message for the task's error.
type vcMoveFault struct {
	fault types.BaseMethodFault
	msg   string
}

// vcPlacement is where the VM goes.
type vcPlacement struct {
	host   *simulator.HostSystem
	pool   types.ManagedObjectReference
	homeDS *simulator.Datastore           // nil: the VM home stays
	diskDS map[int32]*simulator.Datastore // disk key -> datastore (absent: the disk stays)
	drs    bool                           // a move DRS makes (cluster_infra_update_ha.go)
}

// --- MigrateVM_Task ---------------------------------------------------------------------------

func vcHandleMigrateVM(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.MigrateVM_Task)
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	// Resource.ColdMigrate, and Resource.HotMigrate as well for a powered-on VM (API reference)
	priv := "Resource.ColdMigrate"
	if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
		priv = "Resource.HotMigrate"
	}
	if denied := vcCheckPrivilege(ctx, priv, vm.Self); denied != nil {
		return denied
	}
	var body soap.HasFault
	simulator.Map.WithLock(vm, func() {
		p := &vcPlacement{diskDS: map[int32]*simulator.Datastore{}}
		if mf := vcResolveHostAndPool(vm, p, req.Host, req.Pool, true, "host", "pool"); mf != nil {
			body = vcFault(mf.fault, mf.msg)
			return
		}
		mv := vcMove{
			check: func() *vcMoveFault {
				if req.State != "" && vm.Runtime.PowerState != req.State {
					return &vcMoveFault{&types.InvalidPowerState{RequestedState: req.State, ExistingState: vm.Runtime.PowerState},
						fmt.Sprintf("The attempted operation cannot be performed in the current state (%s).", vm.Runtime.PowerState)}
				}
				if r := vcCheckPlacement(vm, p); r != nil {
					return r
				}
				return vcCheckSource(vm, p)
			},
			apply: func() { vcMovePlacement(ctx, vm, p, false) },
		}
		mv.cost, mv.storage = vcMigrationCost(vm, p) // resource_manager.go
		task := simulator.CreateTask(vm, "migrateVm", nil)
		vcSetTaskInfo(ctx, task, "MigrateVM_Task", "VirtualMachine.migrate", vm.Name)
		body = &methods.MigrateVM_TaskBody{Res: &types.MigrateVM_TaskResponse{Returnval: vcStartMove(vm, task, mv)}}
	})
	return body
}

// --- RelocateVM_Task --------------------------------------------------------------------------

func vcHandleRelocateVM(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.RelocateVM_Task)
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	if denied := vcCheckPrivilege(ctx, "Resource.ColdMigrate", vm.Self); denied != nil {
		return denied
	}
	var body soap.HasFault
	simulator.Map.WithLock(vm, func() {
		p := &vcPlacement{diskDS: map[int32]*simulator.Datastore{}}
		spec := req.Spec
		if spec.Datastore != nil {
			ds, ok := simulator.Map.Get(*spec.Datastore).(*simulator.Datastore)
			if !ok {
				body = vcFault(&types.InvalidArgument{InvalidProperty: "spec.datastore"}, "A specified parameter was not correct: spec.datastore")
				return
			}
			p.homeDS = ds
			for _, d := range vcDisks(vm) {
				p.diskDS[d.Key] = ds
			}
		}
		for i, loc := range spec.Disk {
			ds, ok := simulator.Map.Get(loc.Datastore).(*simulator.Datastore)
			if !ok || vcDiskByKey(vm, loc.DiskId) == nil {
				prop := fmt.Sprintf("spec.disk[%d]", i)
				body = vcFault(&types.InvalidArgument{InvalidProperty: prop}, "A specified parameter was not correct: "+prop)
				return
			}
			p.diskDS[loc.DiskId] = ds
		}
		if mf := vcResolveHostAndPool(vm, p, spec.Host, spec.Pool, false, "spec.host", "spec.pool"); mf != nil {
			body = vcFault(mf.fault, mf.msg)
			return
		}
		var folder *simulator.Folder
		if spec.Folder != nil {
			f, ok := simulator.Map.Get(*spec.Folder).(*simulator.Folder)
			if !ok || !vcContains(f.ChildType, "VirtualMachine") {
				body = vcFault(&types.InvalidArgument{InvalidProperty: "spec.folder"}, "A specified parameter was not correct: spec.folder")
				return
			}
			folder = f
		}
		mv := vcMove{
			check: func() *vcMoveFault {
				if r := vcCheckPlacement(vm, p); r != nil {
					return r
				}
				return vcCheckSource(vm, p)
			},
			apply: func() {
				vcMovePlacement(ctx, vm, p, true)
				if folder != nil && (vm.Parent == nil || *vm.Parent != folder.Self) {
					// not under the folder's lock: the simulator's folder code takes it (and skips the
					// VM's, ctx.Caller being the VM we hold)
					folder.MoveIntoFolderTask(ctx, &types.MoveIntoFolder_Task{This: folder.Self, List: []types.ManagedObjectReference{vm.Self}})
				}
			},
		}
		mv.cost, mv.storage = vcMigrationCost(vm, p)
		task := simulator.CreateTask(vm, "relocateVm", nil)
		vcSetTaskInfo(ctx, task, "RelocateVM_Task", "VirtualMachine.relocate", vm.Name)
		body = &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: vcStartMove(vm, task, mv)}}
	})
	return body
}

// vcRunTask runs the task and, when it failed with one of our refusals, gives the task error
// vCenter's message instead of the simulator's Go type name.
func vcRunTask(task *simulator.Task, refusal **vcMoveFault) types.ManagedObjectReference {
	ref := task.Run()
	if r := *refusal; r != nil && task.Info.Error != nil && r.msg != "" {
		simulator.Map.Update(task, []types.PropertyChange{{
			Name: "info.error",
			Val:  types.LocalizedMethodFault{Fault: r.fault, LocalizedMessage: r.msg},
		}})
	}
	return ref
}

// --- resolving the target ---------------------------------------------------------------------

func vcArgFault(prop string) *vcMoveFault {
	return &vcMoveFault{&types.InvalidArgument{InvalidProperty: prop}, "A specified parameter was not correct: " + prop}
}

// vcResolveHostAndPool fills p.host and p.pool from the request, with vCenter's argument rules.
func vcResolveHostAndPool(vm *simulator.VirtualMachine, p *vcPlacement, hostRef, poolRef *types.ManagedObjectReference, strict bool, hostProp, poolProp string) *vcMoveFault {
	if vm.Config != nil && vm.Config.Template {
		return &vcMoveFault{&types.NotSupported{}, "The operation is not supported on the object."}
	}
	if vm.Runtime.Host == nil || vm.ResourcePool == nil {
		return &vcMoveFault{&types.InvalidState{}, "The operation is not allowed in the current state."}
	}
	curHost, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem)
	if !ok {
		return &vcMoveFault{&types.InvalidState{}, "The operation is not allowed in the current state."}
	}
	var host *simulator.HostSystem
	if hostRef != nil {
		if host, ok = simulator.Map.Get(*hostRef).(*simulator.HostSystem); !ok {
			return vcArgFault(hostProp)
		}
	}
	var pool *mo.ResourcePool
	if poolRef != nil {
		if _, pool = vcPoolMO(*poolRef); pool == nil {
			return vcArgFault(poolProp)
		}
	}
	_, curPool := vcPoolMO(*vm.ResourcePool)

	switch {
	case host == nil && pool == nil:
		p.host, p.pool = curHost, *vm.ResourcePool
	case host != nil && pool == nil:
		p.host = host
		if curPool != nil && curPool.Owner == vcHostCR(host) {
			p.pool = *vm.ResourcePool
		} else if strict {
			// "the target host and target pool are not associated with the same compute resource"
			return vcArgFault(poolProp)
		} else if cr := vcComputeResource(vcHostCR(host)); cr != nil && cr.ResourcePool != nil {
			p.pool = *cr.ResourcePool
		} else {
			return vcArgFault(poolProp)
		}
	case host == nil && pool != nil:
		p.pool = *poolRef
		owner := pool.Owner
		if vcHostCR(curHost) == owner {
			p.host = curHost
			break
		}
		cr := vcComputeResource(owner)
		if cr == nil || len(cr.Host) == 0 {
			return vcArgFault(poolProp)
		}
		if owner.Type == "ComputeResource" {
			if p.host, ok = simulator.Map.Get(cr.Host[0]).(*simulator.HostSystem); !ok {
				return vcArgFault(poolProp)
			}
			break
		}
		if !vcDRSEnabled(owner) {
			return vcArgFault(hostProp) // a non-DRS cluster needs an explicit host
		}
		// DRS picks a host: the first compatible one by name (deterministic for tests).
		hosts := make([]*simulator.HostSystem, 0, len(cr.Host))
		for _, ref := range cr.Host {
			if h, ok := simulator.Map.Get(ref).(*simulator.HostSystem); ok {
				hosts = append(hosts, h)
			}
		}
		sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
		for _, h := range hosts {
			p.host = h
			if vcCheckPlacement(vm, p) == nil {
				return nil
			}
		}
		if len(hosts) == 0 {
			return vcArgFault(hostProp)
		}
		p.host = hosts[0] // none compatible: the task fails with the first host's reason
	default:
		if pool.Owner != vcHostCR(host) {
			return vcArgFault(poolProp)
		}
		p.host, p.pool = host, *poolRef
	}
	return nil
}

// --- compatibility checks ---------------------------------------------------------------------

func vcConnected(h *simulator.HostSystem) bool {
	s := h.Runtime.ConnectionState
	return s == "" || s == types.HostSystemConnectionStateConnected
}

func vcCheckPlacement(vm *simulator.VirtualMachine, p *vcPlacement) *vcMoveFault {
	if cur, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok && !vcConnected(cur) {
		ref := cur.Self
		return &vcMoveFault{&types.InvalidHostConnectionState{InvalidHostState: types.InvalidHostState{Host: &ref}},
			fmt.Sprintf("The operation is not allowed in the current connection state of the host (%s is %s).", cur.Name, cur.Runtime.ConnectionState)}
	}
	h := p.host
	ref := h.Self
	if !vcConnected(h) {
		return &vcMoveFault{&types.InvalidHostConnectionState{InvalidHostState: types.InvalidHostState{Host: &ref}},
			fmt.Sprintf("The operation is not allowed in the current connection state of the host (%s is %s).", h.Name, h.Runtime.ConnectionState)}
	}
	if h.Runtime.InMaintenanceMode && h.Self != *vm.Runtime.Host {
		return &vcMoveFault{&types.InvalidHostState{Host: &ref},
			fmt.Sprintf("The operation is not allowed in the current state of the host (%s is in maintenance mode).", h.Name)}
	}
	for _, dsRef := range vcFinalDatastores(vm, p) {
		ds, ok := simulator.Map.Get(dsRef).(*simulator.Datastore)
		if !ok {
			continue
		}
		if !vcDatastoreUsable(ds, h) {
			d := ds.Self
			return &vcMoveFault{
				&types.DatastoreNotWritableOnHost{InvalidDatastore: types.InvalidDatastore{Datastore: &d, Name: ds.Name}, Host: ref},
				fmt.Sprintf("The datastore '%s' is not accessible on host '%s'.", ds.Name, h.Name)}
		}
	}
	for _, disk := range vcDisks(vm) {
		rdm, ok := disk.Backing.(*types.VirtualDiskRawDiskMappingVer1BackingInfo)
		if !ok {
			continue
		}
		if seen, known := vcHostSeesLun(h, rdm); known && !seen {
			label := fmt.Sprintf("disk %d", disk.Key)
			if d := disk.DeviceInfo; d != nil && d.GetDescription() != nil {
				label = d.GetDescription().Label
			}
			return &vcMoveFault{
				&types.RDMPointsToInaccessibleDisk{CannotAccessVmDisk: types.CannotAccessVmDisk{
					CannotAccessVmDevice: types.CannotAccessVmDevice{Device: label, Backing: rdm.DeviceName, Connected: true},
					Fault:                types.LocalizedMethodFault{Fault: &types.NotFound{}, LocalizedMessage: "LUN not presented to host " + h.Name},
				}},
				fmt.Sprintf("Virtual disk '%s' is a mapped direct-access LUN that is not accessible from host '%s'.", label, h.Name)}
		}
	}
	return nil
}

// vcCheckSource: a vMotion (the VM runs and changes host) from a host that cannot reach one of the
// VM's datastores any more (every path dead: APD or PDL on that host) fails when the control API
// says so (POST /v1/vmotion {"from_host_without_paths": "fail"}, task_timing.go); whether vCenter
// completes such a vMotion is not documented, so both outcomes are selectable.
func vcCheckSource(vm *simulator.VirtualMachine, p *vcPlacement) *vcMoveFault {
	if vcPathlessVMotion() != vcPathlessFail || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn ||
		p.host.Self == *vm.Runtime.Host {
		return nil
	}
	src, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem)
	if !ok {
		return nil
	}
	for _, ref := range vm.Datastore {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok && !vcDatastoreUsable(ds, src) {
			msg := fmt.Sprintf("A general system error occurred: vMotion failed: the source host %s cannot access datastore '%s' (all paths down).",
				src.Name, ds.Name)
			return &vcMoveFault{&types.GenericVmConfigFault{Reason: msg}, msg}
		}
	}
	return nil
}

// vcDatastoreUsable: the host mounts the datastore and the mount is accessible (not APD/PDL).
func vcDatastoreUsable(ds *simulator.Datastore, h *simulator.HostSystem) bool {
	for _, m := range ds.Host {
		if m.Key != h.Self {
			continue
		}
		if m.MountInfo.Mounted != nil && !*m.MountInfo.Mounted {
			return false
		}
		if m.MountInfo.Accessible != nil {
			return *m.MountInfo.Accessible
		}
		return ds.Summary.Accessible || !vcSummarySet(ds)
	}
	if simulator.FindReference(h.Datastore, ds.Self) == nil {
		return false // not mounted on that host
	}
	return ds.Summary.Accessible || !vcSummarySet(ds)
}

// vcSummarySet tells an explicitly inaccessible summary from an unfilled one.
func vcSummarySet(ds *simulator.Datastore) bool { return ds.Summary.Name != "" || ds.Summary.Url != "" }

// vcHostSeesLun: whether the host has the RDM's LUN (by uuid or canonical name); known is false
// when the host reports no SCSI LUNs at all.
func vcHostSeesLun(h *simulator.HostSystem, rdm *types.VirtualDiskRawDiskMappingVer1BackingInfo) (seen, known bool) {
	if h.Config == nil || h.Config.StorageDevice == nil || len(h.Config.StorageDevice.ScsiLun) == 0 {
		return false, false
	}
	canonical := dspath.Base(rdm.DeviceName)
	for _, l := range h.Config.StorageDevice.ScsiLun {
		lun := l.GetScsiLun()
		if (rdm.LunUuid != "" && lun.Uuid == rdm.LunUuid) || (canonical != "" && canonical != "." && lun.CanonicalName == canonical) {
			return true, true
		}
	}
	return false, true
}
