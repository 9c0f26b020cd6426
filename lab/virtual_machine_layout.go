package main

// A VM's files and the space they take: layout, layoutEx, storage, summary.storage, and the
// datastores' free space that follows from them.
//
// ESXi keeps a VM's files in its home folder ("[ds] vm/vm.vmx", .vmsd, .vmxf, .nvram, vmware.log;
// while powered on a swap file as large as the memory not reserved, vm-<id>.vswp, and the VMX
// process's own, vmx-vm-<id>.vswp) and each disk as a descriptor and an extent (-flat.vmdk; a
// snapshot's -delta.vmdk; a raw device mapping's -rdmp.vmdk pointer, which takes no space). vCenter
// reports them in layoutEx (file keys, the chain of each disk, the files of each snapshot) and sums
// them per datastore: committed (bytes on disk), uncommitted (what thin disks may still grow by),
// unshared. The simulator lists the files it wrote on the lab's disk, empty, at the datastore root
// ("[ds] vm.vmx"): a powered-on VM with 0 B committed. Here the sizes are those of a real VM: thin
// disks filled to 25-65 % (fixed per disk), snapshot deltas a few percent, 4 GiB of swap while on.
//
// vcRefreshLayout recomputes all of it from the VM's config, power state and snapshots: at build,
// on RefreshStorageInfo, after a power operation and a relocation. vcRefreshDatastoreUsage then
// sets each datastore's summary.freeSpace and uncommitted from the VMs on it (plus the VMFS
// metadata), as vCenter's storage statistics do.

import (
	"fmt"
	dspath "path"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vcCallFixes["RefreshStorageInfo"] = vcHandleRefreshStorageInfo
}

const (
	vmxSize       = 3 << 10
	vmxfSize      = 263
	vmsdSize      = 43
	nvramSize     = 270840 // EFI firmware
	logSize       = 385 << 10
	vmxSwapSize   = 106 << 20
	descriptorSz  = 612
	vmsnSize      = 31 << 10
	vmfsMetadata  = int64(1536) << 20 // a VMFS6 volume's own files (.sf, journal)
	fillPercentLo = 25
	fillPercentHi = 65
)

// vcLayoutFiles collects layoutEx files with their keys.
type vcLayoutFiles struct {
	files []types.VirtualMachineFileLayoutExFileInfo
	keys  map[string]int32
}

func (f *vcLayoutFiles) add(name, kind string, size int64) int32 {
	if k, ok := f.keys[name]; ok {
		return k
	}
	k := int32(len(f.files))
	accessible := true
	f.files = append(f.files, types.VirtualMachineFileLayoutExFileInfo{Key: k, Name: name, Type: kind, Size: size,
		UniqueSize: size, Accessible: &accessible})
	f.keys[name] = k
	return k
}

// vcFill is how full a thin disk is, fixed per disk file: 25-65 %.
func vcFill(name string) int64 {
	h := hexHash("fill", name)
	var v int
	fmt.Sscanf(h[:4], "%04x", &v)
	return int64(fillPercentLo + v%(fillPercentHi-fillPercentLo+1))
}

// vcExtent is the extent file of a disk backing and its size: a flat disk's used bytes, a delta's,
// an RDM pointer's (none).
func vcExtent(b types.BaseVirtualDeviceBackingInfo, capacity int64, delta bool) (string, int64) {
	fb := vcFileBacking(b)
	base := strings.TrimSuffix(fb.FileName, ".vmdk")
	switch x := b.(type) {
	case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
		if x.CompatibilityMode == string(types.VirtualDiskCompatibilityModeVirtualMode) {
			return base + "-rdm.vmdk", 0
		}
		return base + "-rdmp.vmdk", 0
	case *types.VirtualDiskFlatVer2BackingInfo:
		if delta {
			return base + "-delta.vmdk", (capacity / 50) &^ (1<<20 - 1)
		}
		if x.ThinProvisioned != nil && !*x.ThinProvisioned {
			return base + "-flat.vmdk", capacity
		}
	}
	return base + "-flat.vmdk", (capacity * vcFill(fb.FileName) / 100) &^ (1<<20 - 1)
}

// vcRefreshLayout recomputes and publishes the VM's file layout and storage use. The caller holds
// the VM's lock.
func vcRefreshLayout(vm *simulator.VirtualMachine) {
	if vm.Config == nil {
		return
	}
	var vmx object.DatastorePath
	if !vmx.FromString(vm.Config.Files.VmPathName) {
		return
	}
	home := vmx
	home.Path = dspath.Dir(vmx.Path)
	if home.Path == "." {
		home.Path = ""
	}
	inHome := func(name string) string { p := home; p.Path = dspath.Join(home.Path, name); return p.String() }
	name := strings.TrimSuffix(dspath.Base(vmx.Path), ".vmx")
	on := vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
	f := &vcLayoutFiles{keys: map[string]int32{}}

	f.add(vmx.String(), "config", vmxSize)
	f.add(inHome(name+".vmsd"), "snapshotList", vmsdSize)
	f.add(inHome(name+".vmxf"), "extendedConfig", vmxfSize)
	f.add(inHome(name+".nvram"), "nvram", nvramSize)
	f.add(inHome("vmware.log"), "log", logSize)
	layout := &types.VirtualMachineFileLayout{
		ConfigFile: []string{name + ".vmsd", name + ".vmxf", name + ".nvram"},
		LogFile:    []string{"vmware.log"},
	}

	// disks: each chain from its base to the running top (vcChain lists top first)
	var disks []types.VirtualMachineFileLayoutExDiskLayout
	units := map[string]types.VirtualMachineFileLayoutExDiskUnit{}
	for _, disk := range vcDisks(vm) {
		chain := vcChain(disk.Backing)
		dl := types.VirtualMachineFileLayoutExDiskLayout{Key: disk.Key}
		var files []string
		for i := len(chain) - 1; i >= 0; i-- {
			fb := vcFileBacking(chain[i])
			if fb == nil || fb.FileName == "" {
				continue
			}
			extent, size := vcExtent(chain[i], disk.CapacityInBytes, i < len(chain)-1)
			unit := types.VirtualMachineFileLayoutExDiskUnit{FileKey: []int32{
				f.add(fb.FileName, "diskDescriptor", descriptorSz), f.add(extent, "diskExtent", size)}}
			units[fb.FileName] = unit
			dl.Chain = append(dl.Chain, unit)
			files = append(files, fb.FileName)
		}
		disks = append(disks, dl)
		layout.Disk = append(layout.Disk, types.VirtualMachineFileLayoutDiskLayout{Key: disk.Key, DiskFile: files})
	}

	// snapshots: the .vmsn of each, and each disk's chain as it was (the snapshot config's disks)
	var snapshots []types.VirtualMachineFileLayoutExSnapshotLayout
	if vm.Snapshot != nil {
		for i, ref := range vcSnapshots(vm.Snapshot.RootSnapshotList) {
			vmsn := inHome(fmt.Sprintf("%s-Snapshot%d.vmsn", name, i+1))
			sl := types.VirtualMachineFileLayoutExSnapshotLayout{Key: ref, DataKey: f.add(vmsn, "snapshotData", vmsnSize), MemoryKey: -1}
			snapFiles := []string{vmsn}
			if snap, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot); ok {
				for _, d := range snap.Config.Hardware.Device {
					disk, ok := d.(*types.VirtualDisk)
					if !ok {
						continue
					}
					chain := vcChain(disk.Backing)
					dl := types.VirtualMachineFileLayoutExDiskLayout{Key: disk.Key}
					for j := len(chain) - 1; j >= 0; j-- {
						if fb := vcFileBacking(chain[j]); fb != nil {
							if u, ok := units[fb.FileName]; ok {
								dl.Chain = append(dl.Chain, u)
								snapFiles = append(snapFiles, fb.FileName)
							}
						}
					}
					sl.Disk = append(sl.Disk, dl)
				}
			}
			snapshots = append(snapshots, sl)
			layout.Snapshot = append(layout.Snapshot, types.VirtualMachineFileLayoutSnapshotLayout{Key: ref, SnapshotFile: snapFiles})
		}
	}

	// swap files while the VM runs: memory not reserved, and the VMX process's own
	if on {
		id := hexHash("vswp", vm.Self.Value)[:8]
		memory := int64(vm.Config.Hardware.MemoryMB) << 20
		if a := vm.Config.MemoryAllocation; a != nil && a.Reservation != nil {
			memory -= *a.Reservation << 20
		}
		layout.SwapFile = inHome(fmt.Sprintf("%s-%s.vswp", name, id))
		f.add(layout.SwapFile, "swap", memory)
		pid, _ := strconv.ParseUint(id, 16, 32)
		f.add(inHome(fmt.Sprintf("vmx-%s-%d-1.vswp", name, pid)), "uwswap", vmxSwapSize)
	}

	now := time.Now()
	layoutEx := &types.VirtualMachineFileLayoutEx{File: f.files, Disk: disks, Snapshot: snapshots, Timestamp: now}
	storage, summary := vcStorageUsage(vm, f.files, vm.Config.Hardware.Device)
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "layout", Val: layout},
		{Name: "layoutEx", Val: layoutEx},
		{Name: "storage", Val: storage},
		{Name: "summary.storage", Val: summary},
	})
}

// vcStorageUsage sums the files per datastore: committed and unshared are the bytes on disk;
// uncommitted what each thin disk may still grow by (capacity less its base extent), on the
// datastore of that extent.
func vcStorageUsage(vm *simulator.VirtualMachine, files []types.VirtualMachineFileLayoutExFileInfo, devices []types.BaseVirtualDevice) (*types.VirtualMachineStorageInfo, *types.VirtualMachineStorageSummary) {
	now := time.Now()
	usage := map[types.ManagedObjectReference]*types.VirtualMachineUsageOnDatastore{}
	var order []types.ManagedObjectReference
	at := func(name string) *types.VirtualMachineUsageOnDatastore {
		var p object.DatastorePath
		if !p.FromString(name) {
			return nil
		}
		ds := vcDatastoreByName(p.Datastore, vm)
		if ds == nil {
			return nil
		}
		u, ok := usage[ds.Self]
		if !ok {
			u = &types.VirtualMachineUsageOnDatastore{Datastore: ds.Self}
			usage[ds.Self] = u
			order = append(order, ds.Self)
		}
		return u
	}
	size := map[string]int64{}
	for _, f := range files {
		size[f.Name] = f.Size
		if u := at(f.Name); u != nil {
			u.Committed += f.Size
			u.Unshared += f.Size
		}
	}
	for _, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		chain := vcChain(disk.Backing)
		base := chain[len(chain)-1]
		fb := vcFileBacking(base)
		if fb == nil || fb.FileName == "" {
			continue
		}
		extent, _ := vcExtent(base, disk.CapacityInBytes, false)
		used, known := size[extent]
		if _, rdm := base.(*types.VirtualDiskRawDiskMappingVer1BackingInfo); rdm || !known {
			continue
		}
		if u := at(extent); u != nil && disk.CapacityInBytes > used {
			u.Uncommitted += disk.CapacityInBytes - used
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

// vcRefreshDatastoreUsage sets each datastore's free space and uncommitted bytes from the VMs on it.
// held is a VM whose lock the caller holds (nil if none).
func vcRefreshDatastoreUsage(refs []types.ManagedObjectReference, held *simulator.VirtualMachine) {
	done := map[types.ManagedObjectReference]bool{}
	for _, ref := range refs {
		if done[ref] {
			continue
		}
		done[ref] = true
		ds, ok := simulator.Map.Get(ref).(*simulator.Datastore)
		if !ok {
			continue
		}
		var vms []types.ManagedObjectReference
		simulator.Map.WithLock(ds, func() { vms = append(vms, ds.Vm...) })
		used, uncommitted := int64(0), int64(0)
		if ds.Summary.Type == "VMFS" {
			used = vmfsMetadata
		}
		for _, vref := range vms {
			vm, ok := simulator.Map.Get(vref).(*simulator.VirtualMachine)
			if !ok {
				continue
			}
			add := func() {
				if vm.Storage == nil {
					return
				}
				for _, u := range vm.Storage.PerDatastoreUsage {
					if u.Datastore == ref {
						used += u.Committed
						uncommitted += u.Uncommitted
					}
				}
			}
			if vm == held {
				add()
			} else {
				simulator.Map.WithLock(vm, add)
			}
		}
		simulator.Map.WithLock(ds, func() {
			free := ds.Summary.Capacity - used
			if free < 0 {
				free = 0
			}
			ds.Info.GetDatastoreInfo().FreeSpace = free
			simulator.Map.Update(ds, []types.PropertyChange{
				{Name: "summary.freeSpace", Val: free},
				{Name: "summary.uncommitted", Val: uncommitted},
				{Name: "info", Val: ds.Info},
			})
		})
	}
}

func vcHandleRefreshStorageInfo(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	vm, ok := simulator.Map.Get(*ctx.Caller).(*simulator.VirtualMachine)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: *ctx.Caller}, "")
	}
	var datastores []types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		vcRefreshLayout(vm)
		datastores = append(datastores, vm.Datastore...)
	})
	vcRefreshDatastoreUsage(datastores, nil)
	return &methods.RefreshStorageInfoBody{Res: &types.RefreshStorageInfoResponse{}}
}
