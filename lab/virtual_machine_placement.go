package main

// Applying a placement: a completed migration (or its journal replay) moves the VM to its target
// host and pool and its home and disks to their target datastores, and publishes every property
// vCenter changes with it (runtime.host, resourcePool, host.vm, resourcePool.vm, config.files,
// disk backings, layout, layoutEx, storage, datastore, datastore.vm, snapshot configs). vCenter
// keeps a VM's placement in its database: every completed move is journaled and replayed.

import (
	"fmt"
	dspath "path"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	registerJournal("placement", replayPlacement)
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
	oldDatastores := append([]types.ManagedObjectReference(nil), vm.Datastore...)
	changes = append(changes, vcMoveStorage(vm, p, srcHome)...)

	if len(changes) != 0 {
		simulator.Map.Update(vm, changes)
	}
	if relocate { // the space the VM took moves with it (virtual_machine_layout.go)
		vcRefreshDatastoreUsage(append(oldDatastores, vm.Datastore...), vm)
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
		migrated := types.VmMigratedEvent{VmEvent: types.VmEvent{Event: after},
			SourceHost: source, SourceDatacenter: before.Datacenter, SourceDatastore: srcDS}
		if p.drs { // DRS's own vMotion: "DRS migrated ..."
			vcPostEvents(ctx, &types.DrsVmMigratedEvent{VmMigratedEvent: migrated})
		} else {
			vcPostEvents(ctx, &migrated)
		}
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

// --- the journal: where a VM is after each completed move -----------------------------------------
//
//	{"t":"placement","vm":"app01","moref":"vm-42","host":"esx-a02","pool":"cl-a/Resources","home":"ds-gold","disks":{"2000":"ds-gold"}}

func journalPlacement(vm *simulator.VirtualMachine, p *vcPlacement) {
	if vcJournal == nil {
		return
	}
	fields := map[string]interface{}{"vm": vm.Name, "moref": vm.Self.Value, "host": p.host.Name, "pool": vcPoolPath(p.pool)}
	if p.homeDS != nil {
		fields["home"] = p.homeDS.Name
	}
	disks := map[string]string{}
	for key, ds := range p.diskDS {
		disks[strconv.Itoa(int(key))] = ds.Name
	}
	fields["disks"] = disks
	vcJournal.write("placement", fields)
}

type placementRecord struct {
	VM    string            `json:"vm"`
	Host  string            `json:"host"`
	Pool  string            `json:"pool"`
	Home  string            `json:"home"`
	Disks map[string]string `json:"disks"`
}

func replayPlacement(l *Lab, e *journalEntry) error {
	var r placementRecord
	if err := e.decode(&r); err != nil {
		return err
	}
	vm, err := l.vmByName(r.VM)
	if err != nil {
		return err
	}
	h := l.san.hostByName[r.Host]
	if h == nil {
		return fmt.Errorf("unknown host %q", r.Host)
	}
	pool, err := vcPoolByPath(r.Pool)
	if err != nil {
		return err
	}
	p := &vcPlacement{host: h.inv.mo, pool: pool, diskDS: map[int32]*simulator.Datastore{}}
	dsByName := func(name string) (*simulator.Datastore, error) {
		if d := l.san.dsByName[name]; d != nil {
			return d.inv.mo, nil
		}
		if ds := vcDatastoreByName(name, vm); ds != nil {
			return ds, nil
		}
		return nil, fmt.Errorf("unknown datastore %q", name)
	}
	if r.Home != "" {
		if p.homeDS, err = dsByName(r.Home); err != nil {
			return err
		}
	}
	for key, name := range r.Disks {
		k, err := strconv.Atoi(key)
		if err != nil {
			return fmt.Errorf("bad disk key %q", key)
		}
		ds, err := dsByName(name)
		if err != nil {
			return err
		}
		p.diskDS[int32(k)] = ds
	}
	simulator.Map.WithLock(vm, func() { vcMovePlacement(l.ctx, vm, p, true) })
	return nil
}
