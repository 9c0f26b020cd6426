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
//   - the task runs in the control API's task mode (vcenter_tasks.go: slow, hang, fail), and the
//     caller needs Resource.HotMigrate (powered-on VM) or Resource.ColdMigrate (vcenter_privileges.go).

import (
	"fmt"
	"io"
	"io/ioutil"
	"os"
	dspath "path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
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
				return vcCheckPlacement(vm, p)
			},
			apply: func() { vcMovePlacement(ctx, vm, p, false) },
		}
		task := simulator.CreateTask(vm, "migrateVm", nil)
		vcSetTaskInfo(task, "MigrateVM_Task", "VirtualMachine.migrate", vm.Name)
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
			check: func() *vcMoveFault { return vcCheckPlacement(vm, p) },
			apply: func() {
				vcMovePlacement(ctx, vm, p, true)
				if folder != nil && (vm.Parent == nil || *vm.Parent != folder.Self) {
					// not under the folder's lock: the simulator's folder code takes it (and skips the
					// VM's, ctx.Caller being the VM we hold)
					folder.MoveIntoFolderTask(ctx, &types.MoveIntoFolder_Task{This: folder.Self, List: []types.ManagedObjectReference{vm.Self}})
				}
			},
		}
		task := simulator.CreateTask(vm, "relocateVm", nil)
		vcSetTaskInfo(task, "RelocateVM_Task", "VirtualMachine.relocate", vm.Name)
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

// vcPoolMO returns the registry object and the ResourcePool view of a pool or vApp reference.
func vcPoolMO(ref types.ManagedObjectReference) (mo.Reference, *mo.ResourcePool) {
	switch x := simulator.Map.Get(ref).(type) {
	case *simulator.ResourcePool:
		return x, &x.ResourcePool
	case *simulator.VirtualApp:
		return x, &x.ResourcePool
	case *mo.ResourcePool:
		return x, x
	}
	return nil, nil
}

// vcComputeResource returns the ComputeResource view of a cluster or standalone compute resource.
func vcComputeResource(ref types.ManagedObjectReference) *mo.ComputeResource {
	switch x := simulator.Map.Get(ref).(type) {
	case *simulator.ClusterComputeResource:
		return &x.ComputeResource
	case *mo.ClusterComputeResource:
		return &x.ComputeResource
	case *mo.ComputeResource:
		return x
	}
	return nil
}

func vcDRSEnabled(ref types.ManagedObjectReference) bool {
	var cfg types.BaseComputeResourceConfigInfo
	switch x := simulator.Map.Get(ref).(type) {
	case *simulator.ClusterComputeResource:
		cfg = x.ConfigurationEx
	case *mo.ClusterComputeResource:
		cfg = x.ConfigurationEx
	}
	if c, ok := cfg.(*types.ClusterConfigInfoEx); ok {
		return c.DrsConfig.Enabled != nil && *c.DrsConfig.Enabled
	}
	return false
}

func vcHostCR(h *simulator.HostSystem) types.ManagedObjectReference {
	if h.Parent == nil {
		return types.ManagedObjectReference{}
	}
	return *h.Parent
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

// --- storage bookkeeping ----------------------------------------------------------------------

func vcDisks(vm *simulator.VirtualMachine) []*types.VirtualDisk {
	var disks []*types.VirtualDisk
	if vm.Config == nil {
		return nil
	}
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			disks = append(disks, disk)
		}
	}
	return disks
}

func vcDiskByKey(vm *simulator.VirtualMachine, key int32) *types.VirtualDisk {
	for _, d := range vcDisks(vm) {
		if d.Key == key {
			return d
		}
	}
	return nil
}

// vcDatastoreByName finds a datastore by name, preferring the VM's own and its datacenter's.
func vcDatastoreByName(name string, vm *simulator.VirtualMachine) *simulator.Datastore {
	for _, ref := range vm.Datastore {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == name {
			return ds
		}
	}
	dc := vcAncestor(vm.Self, "Datacenter")
	var found *simulator.Datastore
	for _, e := range simulator.Map.All("Datastore") {
		ds, ok := e.(*simulator.Datastore)
		if !ok || ds.Name != name {
			continue
		}
		if dc != nil {
			if d := vcAncestor(ds.Self, "Datacenter"); d != nil && *d == *dc {
				return ds
			}
		}
		if found == nil {
			found = ds
		}
	}
	return found
}

// vcChain returns a disk's backing chain (the disk's own backing first, then its snapshot parents).
func vcChain(b types.BaseVirtualDeviceBackingInfo) []types.BaseVirtualDeviceBackingInfo {
	var chain []types.BaseVirtualDeviceBackingInfo
	for b != nil && len(chain) < 256 {
		chain = append(chain, b)
		parent := reflect.ValueOf(b).Elem().FieldByName("Parent")
		if !parent.IsValid() || parent.IsNil() {
			break
		}
		b = parent.Interface().(types.BaseVirtualDeviceBackingInfo)
	}
	return chain
}

func vcFileBacking(b types.BaseVirtualDeviceBackingInfo) *types.VirtualDeviceFileBackingInfo {
	if fb, ok := b.(types.BaseVirtualDeviceFileBackingInfo); ok {
		return fb.GetVirtualDeviceFileBackingInfo()
	}
	return nil
}

// vcBackingDatastore: backing.datastore, or the datastore named in fileName.
func vcBackingDatastore(vm *simulator.VirtualMachine, fb *types.VirtualDeviceFileBackingInfo) *types.ManagedObjectReference {
	if fb.Datastore != nil {
		return fb.Datastore
	}
	var p object.DatastorePath
	if p.FromString(fb.FileName) {
		if ds := vcDatastoreByName(p.Datastore, vm); ds != nil {
			ref := ds.Self
			return &ref
		}
	}
	return nil
}

func vcHomeDatastore(vm *simulator.VirtualMachine) *simulator.Datastore {
	if vm.Config == nil {
		return nil
	}
	var p object.DatastorePath
	if !p.FromString(vm.Config.Files.VmPathName) {
		return nil
	}
	return vcDatastoreByName(p.Datastore, vm)
}

// vcFinalDatastores lists the datastores the VM uses once placed as p (home and disk chains).
func vcFinalDatastores(vm *simulator.VirtualMachine, p *vcPlacement) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	add := func(ref *types.ManagedObjectReference) {
		if ref != nil && simulator.FindReference(out, *ref) == nil {
			out = append(out, *ref)
		}
	}
	if p.homeDS != nil {
		ref := p.homeDS.Self
		add(&ref)
	} else if home := vcHomeDatastore(vm); home != nil {
		ref := home.Self
		add(&ref)
	}
	for _, disk := range vcDisks(vm) {
		if ds, ok := p.diskDS[disk.Key]; ok {
			ref := ds.Self
			add(&ref)
			continue
		}
		for _, b := range vcChain(disk.Backing) {
			if fb := vcFileBacking(b); fb != nil {
				add(vcBackingDatastore(vm, fb))
			}
		}
	}
	return out
}

// vcPathMover rewrites "[ds] path" names and records the files to move on disk.
type vcPathMover struct {
	exact  map[string]string // "[old] dir/disk.vmdk" (and extents) -> "[new] dir/disk.vmdk"
	homeIn string            // "[old] vmdir/" prefix of the VM home, "" if the home stays
	homeTo string            // "[new] vmdir/"
	rootIn string            // "[old] " when the home moves: the simulator lists some home files
	rootTo string            // at the datastore root in layoutEx ("[ds] vm.nvram"); they go too
	keep   map[string]bool   // known files that stay (disks not moving that live in the home dir)
}

var vcDiskExtents = []string{"-flat", "-delta", "-sesparse", "-ctk", "-rdm", "-rdmp", "-s001"}

func (m *vcPathMover) addDiskFile(from, to string) {
	m.exact[from] = to
	if strings.HasSuffix(from, ".vmdk") && strings.HasSuffix(to, ".vmdk") {
		f, t := strings.TrimSuffix(from, ".vmdk"), strings.TrimSuffix(to, ".vmdk")
		for _, x := range vcDiskExtents {
			m.exact[f+x+".vmdk"] = t + x + ".vmdk"
		}
	}
}

func (m *vcPathMover) keepDiskFile(name string) {
	m.keep[name] = true
	if strings.HasSuffix(name, ".vmdk") {
		f := strings.TrimSuffix(name, ".vmdk")
		for _, x := range vcDiskExtents {
			m.keep[f+x+".vmdk"] = true
		}
	}
}

func (m *vcPathMover) move(name string) string {
	if to, ok := m.exact[name]; ok {
		return to
	}
	if m.homeIn != "" && !m.keep[name] && strings.HasPrefix(name, m.homeIn) {
		return m.homeTo + strings.TrimPrefix(name, m.homeIn)
	}
	if m.rootIn != "" && !m.keep[name] && strings.HasPrefix(name, m.rootIn) && !strings.Contains(strings.TrimPrefix(name, m.rootIn), "/") {
		return m.rootTo + strings.TrimPrefix(name, m.rootIn)
	}
	return name
}

// moveDir rewrites a "[ds] dir" directory of the VM home (config.files.*).
func (m *vcPathMover) moveDir(name string) string {
	if m.homeIn == "" || name == "" {
		return name
	}
	in := strings.TrimSuffix(m.homeIn, "/")
	if name == in || strings.HasPrefix(name, m.homeIn) {
		return strings.TrimSuffix(m.homeTo, "/") + strings.TrimPrefix(name, in)
	}
	return m.move(name)
}

func vcRewritePath(name string, ds *simulator.Datastore) string {
	var p object.DatastorePath
	if !p.FromString(name) {
		return name
	}
	p.Datastore = ds.Name
	return p.String()
}

// vcCloneBacking copies a backing chain, giving each file backing the name and datastore f says
// (the originals may be shared with snapshot configs and must not change under them).
func vcCloneBacking(b types.BaseVirtualDeviceBackingInfo, f func(fb *types.VirtualDeviceFileBackingInfo)) types.BaseVirtualDeviceBackingInfo {
	if b == nil {
		return nil
	}
	v := reflect.ValueOf(b)
	if v.Kind() != reflect.Ptr || v.IsNil() {
		return b
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	cb := c.Interface().(types.BaseVirtualDeviceBackingInfo)
	if fb := vcFileBacking(cb); fb != nil {
		f(fb)
	}
	if parent := c.Elem().FieldByName("Parent"); parent.IsValid() && !parent.IsNil() {
		pb := vcCloneBacking(parent.Interface().(types.BaseVirtualDeviceBackingInfo), f)
		parent.Set(reflect.ValueOf(pb))
	}
	return cb
}

// vcRewriteDevices returns a new device list with every disk's chain renamed through m.
func vcRewriteDevices(devices []types.BaseVirtualDevice, vm *simulator.VirtualMachine, m *vcPathMover) []types.BaseVirtualDevice {
	out := make([]types.BaseVirtualDevice, 0, len(devices))
	for _, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			out = append(out, d)
			continue
		}
		changed := false
		for _, b := range vcChain(disk.Backing) {
			if fb := vcFileBacking(b); fb != nil && m.move(fb.FileName) != fb.FileName {
				changed = true
			}
		}
		if !changed {
			out = append(out, d)
			continue
		}
		nd := *disk
		nd.Backing = vcCloneBacking(disk.Backing, func(fb *types.VirtualDeviceFileBackingInfo) {
			to := m.move(fb.FileName)
			if to == fb.FileName {
				return
			}
			fb.FileName = to
			var p object.DatastorePath
			if p.FromString(to) {
				if ds := vcDatastoreByName(p.Datastore, vm); ds != nil {
					ref := ds.Self
					fb.Datastore = &ref
				}
			}
		})
		out = append(out, &nd)
	}
	return out
}

// --- applying a placement ---------------------------------------------------------------------

// vcMovePlacement moves the VM (its lock held by the caller) and publishes every change.
func vcMovePlacement(ctx *simulator.Context, vm *simulator.VirtualMachine, p *vcPlacement, relocate bool) {
	srcHostRef := *vm.Runtime.Host
	srcHost, _ := simulator.Map.Get(srcHostRef).(*simulator.HostSystem)
	srcPool := *vm.ResourcePool
	srcHome := vcHomeDatastore(vm)
	hostMoves := p.host.Self != srcHostRef
	poweredOn := vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn

	// vCenter's events: "being migrated/relocated" first, "migrated/relocated" when done.
	before := vcEventArgs(vm.Self)
	dest := types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: p.host.Name}, Host: p.host.Self}
	var destDS *types.DatastoreEventArgument
	if p.homeDS != nil {
		destDS = &types.DatastoreEventArgument{EntityEventArgument: types.EntityEventArgument{Name: p.homeDS.Name}, Datastore: p.homeDS.Self}
	}
	switch {
	case relocate:
		vcPostEvents(ctx, &types.VmBeingRelocatedEvent{VmRelocateSpecEvent: types.VmRelocateSpecEvent{VmEvent: types.VmEvent{Event: before}},
			DestHost: dest, DestDatacenter: before.Datacenter, DestDatastore: destDS})
	case poweredOn:
		vcPostEvents(ctx, &types.VmBeingHotMigratedEvent{VmEvent: types.VmEvent{Event: before}, DestHost: dest, DestDatacenter: before.Datacenter, DestDatastore: destDS})
	default:
		vcPostEvents(ctx, &types.VmBeingMigratedEvent{VmEvent: types.VmEvent{Event: before}, DestHost: dest, DestDatacenter: before.Datacenter, DestDatastore: destDS})
	}

	var changes []types.PropertyChange

	// Host: host.vm of both hosts, runtime.host and summary.runtime.host.
	if hostMoves {
		if srcHost != nil {
			simulator.Map.WithLock(srcHost, func() {
				srcHost.Vm = vcWithout(srcHost.Vm, vm.Self)
				simulator.Map.Update(srcHost, []types.PropertyChange{{Name: "vm", Val: srcHost.Vm}})
			})
		}
		simulator.Map.WithLock(p.host, func() {
			p.host.Vm = vcWith(p.host.Vm, vm.Self)
			simulator.Map.Update(p.host, []types.PropertyChange{{Name: "vm", Val: p.host.Vm}})
		})
		ref := p.host.Self
		changes = append(changes,
			types.PropertyChange{Name: "runtime.host", Val: ref},
			types.PropertyChange{Name: "summary.runtime.host", Val: ref})
	}

	// Pool: resourcePool.vm of both pools, the VM's resourcePool.
	if p.pool != srcPool {
		if obj, pool := vcPoolMO(srcPool); pool != nil {
			simulator.Map.WithLock(obj, func() {
				pool.Vm = vcWithout(pool.Vm, vm.Self)
				simulator.Map.Update(obj, []types.PropertyChange{{Name: "vm", Val: pool.Vm}})
			})
		}
		if obj, pool := vcPoolMO(p.pool); pool != nil {
			simulator.Map.WithLock(obj, func() {
				pool.Vm = vcWith(pool.Vm, vm.Self)
				simulator.Map.Update(obj, []types.PropertyChange{{Name: "vm", Val: pool.Vm}})
			})
		}
		changes = append(changes, types.PropertyChange{Name: "resourcePool", Val: p.pool})
	}

	// Storage.
	changes = append(changes, vcMoveStorage(vm, p, srcHome)...)

	if len(changes) != 0 {
		simulator.Map.Update(vm, changes)
	}

	after := vcEventArgs(vm.Self)
	source := types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(srcHostRef)}, Host: srcHostRef}
	var srcDS *types.DatastoreEventArgument
	if srcHome != nil {
		srcDS = &types.DatastoreEventArgument{EntityEventArgument: types.EntityEventArgument{Name: srcHome.Name}, Datastore: srcHome.Self}
	}
	if relocate {
		vcPostEvents(ctx, &types.VmRelocatedEvent{VmRelocateSpecEvent: types.VmRelocateSpecEvent{VmEvent: types.VmEvent{Event: after}},
			SourceHost: source, SourceDatacenter: before.Datacenter, SourceDatastore: srcDS})
	} else {
		vcPostEvents(ctx, &types.VmMigratedEvent{VmEvent: types.VmEvent{Event: after},
			SourceHost: source, SourceDatacenter: before.Datacenter, SourceDatastore: srcDS})
	}
	// vCenter's database keeps where the VM is (journal.go)
	journalPlacement(vm, p)
}

// vcMoveStorage rewrites the VM's files for p and returns the VM property changes to publish.
func vcMoveStorage(vm *simulator.VirtualMachine, p *vcPlacement, srcHome *simulator.Datastore) []types.PropertyChange {
	m := &vcPathMover{exact: map[string]string{}, keep: map[string]bool{}}

	if p.homeDS != nil && srcHome != nil && p.homeDS.Self != srcHome.Self {
		var vmx object.DatastorePath
		vmx.FromString(vm.Config.Files.VmPathName)
		dir := vmx.Path
		if dspath.Ext(dir) == ".vmx" {
			dir = dspath.Dir(dir)
		}
		dir = strings.TrimSuffix(dir, "/")
		if dir == "." {
			dir = ""
		}
		from := object.DatastorePath{Datastore: srcHome.Name, Path: dir}
		to := object.DatastorePath{Datastore: p.homeDS.Name, Path: dir}
		m.homeIn, m.homeTo = from.String(), to.String()
		if dir != "" {
			m.homeIn += "/"
			m.homeTo += "/"
			m.rootIn = "[" + srcHome.Name + "] "
			m.rootTo = "[" + p.homeDS.Name + "] "
		} else { // the home is the datastore root
			m.homeIn += " "
			m.homeTo += " "
		}
	}
	for _, disk := range vcDisks(vm) {
		ds, moves := p.diskDS[disk.Key]
		for _, b := range vcChain(disk.Backing) {
			fb := vcFileBacking(b)
			if fb == nil || fb.FileName == "" {
				continue
			}
			cur := vcBackingDatastore(vm, fb)
			if !moves || (cur != nil && *cur == ds.Self) {
				m.keepDiskFile(fb.FileName)
				continue
			}
			m.addDiskFile(fb.FileName, vcRewritePath(fb.FileName, ds))
		}
	}
	if len(m.exact) == 0 && m.homeIn == "" {
		return nil // no storage move
	}

	oldDatastores := append([]types.ManagedObjectReference(nil), vm.Datastore...)
	var changes []types.PropertyChange

	// Files on the simulator's datastore folders (best effort, before the names change).
	vcMoveFiles(vm, m)

	// Disks (and their snapshot chains).
	devices := vcRewriteDevices(vm.Config.Hardware.Device, vm, m)
	changes = append(changes, types.PropertyChange{Name: "config.hardware.device", Val: devices})

	// VM home.
	files := vm.Config.Files
	files.VmPathName = m.move(files.VmPathName)
	files.SnapshotDirectory = m.moveDir(files.SnapshotDirectory)
	files.SuspendDirectory = m.moveDir(files.SuspendDirectory)
	files.LogDirectory = m.moveDir(files.LogDirectory)
	files.FtMetadataDirectory = m.moveDir(files.FtMetadataDirectory)
	changes = append(changes,
		types.PropertyChange{Name: "config.files", Val: files},
		types.PropertyChange{Name: "summary.config.vmPathName", Val: files.VmPathName})

	// layout (configFile and logFile are relative to the VM home: unchanged), layoutEx.
	if vm.Layout != nil {
		l := *vm.Layout
		l.SwapFile = m.move(l.SwapFile)
		l.Disk = make([]types.VirtualMachineFileLayoutDiskLayout, len(vm.Layout.Disk))
		for i, d := range vm.Layout.Disk {
			l.Disk[i] = types.VirtualMachineFileLayoutDiskLayout{Key: d.Key, DiskFile: vcMoveAll(d.DiskFile, m)}
		}
		l.Snapshot = make([]types.VirtualMachineFileLayoutSnapshotLayout, len(vm.Layout.Snapshot))
		for i, s := range vm.Layout.Snapshot {
			l.Snapshot[i] = types.VirtualMachineFileLayoutSnapshotLayout{Key: s.Key, SnapshotFile: vcMoveAll(s.SnapshotFile, m)}
		}
		changes = append(changes, types.PropertyChange{Name: "layout", Val: &l})
	}
	if vm.LayoutEx != nil {
		l := *vm.LayoutEx
		l.File = make([]types.VirtualMachineFileLayoutExFileInfo, len(vm.LayoutEx.File))
		for i, f := range vm.LayoutEx.File {
			f.Name = m.move(f.Name)
			l.File[i] = f
		}
		l.Timestamp = time.Now()
		changes = append(changes, types.PropertyChange{Name: "layoutEx", Val: &l})
		storage, summary := vcStorageUsage(vm, l.File, devices)
		changes = append(changes,
			types.PropertyChange{Name: "storage", Val: storage},
			types.PropertyChange{Name: "summary.storage", Val: summary})
	}

	// Snapshot configs keep their own copies of the disks and files.
	if vm.Snapshot != nil {
		for _, ref := range vcSnapshots(vm.Snapshot.RootSnapshotList) {
			snap, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot)
			if !ok {
				continue
			}
			simulator.Map.WithLock(snap, func() {
				cfg := snap.Config
				cfg.Hardware.Device = vcRewriteDevices(snap.Config.Hardware.Device, vm, m)
				cfg.Files.VmPathName = m.move(cfg.Files.VmPathName)
				cfg.Files.SnapshotDirectory = m.moveDir(cfg.Files.SnapshotDirectory)
				cfg.Files.SuspendDirectory = m.moveDir(cfg.Files.SuspendDirectory)
				cfg.Files.LogDirectory = m.moveDir(cfg.Files.LogDirectory)
				simulator.Map.Update(snap, []types.PropertyChange{{Name: "config", Val: cfg}})
			})
		}
	}

	// The VM's datastore list, and datastore.vm of what it left and what it joined.
	final := vcFinalDatastores(vm, p)
	changes = append(changes, types.PropertyChange{Name: "datastore", Val: final})
	for _, ref := range oldDatastores {
		if simulator.FindReference(final, ref) != nil {
			continue
		}
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
			simulator.Map.WithLock(ds, func() {
				ds.Vm = vcWithout(ds.Vm, vm.Self)
				simulator.Map.Update(ds, []types.PropertyChange{{Name: "vm", Val: ds.Vm}})
			})
		}
	}
	for _, ref := range final {
		ds, ok := simulator.Map.Get(ref).(*simulator.Datastore)
		if !ok || simulator.FindReference(ds.Vm, vm.Self) != nil {
			continue
		}
		simulator.Map.WithLock(ds, func() {
			ds.Vm = vcWith(ds.Vm, vm.Self)
			simulator.Map.Update(ds, []types.PropertyChange{{Name: "vm", Val: ds.Vm}})
		})
	}
	return changes
}

func vcMoveAll(names []string, m *vcPathMover) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = m.move(n)
	}
	return out
}

func vcSnapshots(tree []types.VirtualMachineSnapshotTree) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for _, s := range tree {
		out = append(out, s.Snapshot)
		out = append(out, vcSnapshots(s.ChildSnapshotList)...)
	}
	return out
}

// vcStorageUsage recomputes storage.perDatastoreUsage and summary.storage from the file layout.
func vcStorageUsage(vm *simulator.VirtualMachine, files []types.VirtualMachineFileLayoutExFileInfo, devices []types.BaseVirtualDevice) (*types.VirtualMachineStorageInfo, *types.VirtualMachineStorageSummary) {
	now := time.Now()
	usage := map[types.ManagedObjectReference]*types.VirtualMachineUsageOnDatastore{}
	var order []types.ManagedObjectReference
	for _, f := range files {
		var p object.DatastorePath
		if !p.FromString(f.Name) {
			continue
		}
		ds := vcDatastoreByName(p.Datastore, vm)
		if ds == nil {
			continue
		}
		u, ok := usage[ds.Self]
		if !ok {
			u = &types.VirtualMachineUsageOnDatastore{Datastore: ds.Self}
			usage[ds.Self] = u
			order = append(order, ds.Self)
		}
		u.Committed += f.Size
		if dspath.Ext(f.Name) == ".vmdk" {
			u.Unshared += f.Size
		}
		for _, d := range devices {
			if disk, ok := d.(*types.VirtualDisk); ok {
				if fb := vcFileBacking(disk.Backing); fb != nil && fb.FileName == f.Name {
					u.Uncommitted += disk.CapacityInBytes
				}
			}
		}
	}
	info := &types.VirtualMachineStorageInfo{Timestamp: now}
	summary := &types.VirtualMachineStorageSummary{Timestamp: now}
	for _, ref := range order {
		u := usage[ref]
		info.PerDatastoreUsage = append(info.PerDatastoreUsage, *u)
		summary.Committed += u.Committed
		summary.Uncommitted += u.Uncommitted
		summary.Unshared += u.Unshared
	}
	return info, summary
}

func vcContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func vcWith(refs []types.ManagedObjectReference, ref types.ManagedObjectReference) []types.ManagedObjectReference {
	out := make([]types.ManagedObjectReference, 0, len(refs)+1)
	for _, r := range refs {
		if r != ref {
			out = append(out, r)
		}
	}
	return append(out, ref)
}

func vcWithout(refs []types.ManagedObjectReference, ref types.ManagedObjectReference) []types.ManagedObjectReference {
	out := make([]types.ManagedObjectReference, 0, len(refs))
	for _, r := range refs {
		if r != ref {
			out = append(out, r)
		}
	}
	return out
}

// --- files on disk ----------------------------------------------------------------------------

// vcLocalDir is a datastore's folder on the lab's disk, "" if it has none.
func vcLocalDir(ds *simulator.Datastore) string {
	if ds == nil || ds.Info == nil {
		return ""
	}
	dir := ds.Info.GetDatastoreInfo().Url
	if !filepath.IsAbs(dir) {
		return ""
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return ""
	}
	return dir
}

// vcMoveFiles moves the VM's files between the datastores' folders, best effort: the lab's
// datastores may have no folder, and a move never fails the relocation.
func vcMoveFiles(vm *simulator.VirtualMachine, m *vcPathMover) {
	local := func(name string) string {
		var p object.DatastorePath
		if !p.FromString(name) || p.Path == "" {
			return ""
		}
		dir := vcLocalDir(vcDatastoreByName(p.Datastore, vm))
		if dir == "" {
			return ""
		}
		return filepath.Join(dir, filepath.FromSlash(p.Path))
	}
	moved := map[string]bool{}
	moveOne := func(from, to string) {
		if from == to || moved[from] {
			return
		}
		src, dst := local(from), local(to)
		if src == "" || dst == "" || src == dst {
			return
		}
		if st, err := os.Stat(src); err != nil || !st.Mode().IsRegular() {
			return
		}
		moved[from] = true
		_ = os.MkdirAll(filepath.Dir(dst), 0o700)
		if err := os.Rename(src, dst); err == nil {
			return
		}
		if vcCopyFile(src, dst) == nil {
			_ = os.Remove(src)
		}
	}
	for from, to := range m.exact {
		moveOne(from, to)
	}
	if m.homeIn == "" {
		return
	}
	// Everything else in the VM home folder goes with the home.
	homeDir := local(strings.TrimSpace(strings.TrimSuffix(m.homeIn, "/")))
	if homeDir == "" {
		return
	}
	entries, err := ioutil.ReadDir(homeDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Mode().IsRegular() {
			continue
		}
		name := m.homeIn + e.Name()
		if m.keep[name] {
			continue
		}
		moveOne(name, m.move(name))
	}
}

func vcCopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		_ = os.Remove(dst)
		return err
	}
	return out.Close()
}
