package main

// Building the inventory's VMs from the topology: each VM on its host and pool, its disks on their
// datastores (VMDKs with their snapshot delta chains, physical-mode RDMs of array LUNs) on pvscsi
// or lsilogic controllers, with the files, layout and disk labels vSphere reports for them.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

func diskFile(ds, vm string, index int) string {
	if index == 0 {
		return fmt.Sprintf("[%s] %s/%s.vmdk", ds, vm, vm)
	}
	return fmt.Sprintf("[%s] %s/%s_%d.vmdk", ds, vm, vm, index)
}

func deltaFile(ds, vm string, index, level int) string {
	if index == 0 {
		return fmt.Sprintf("[%s] %s/%s-%06d.vmdk", ds, vm, vm, level)
	}
	return fmt.Sprintf("[%s] %s/%s_%d-%06d.vmdk", ds, vm, vm, index, level)
}

// diskUUID is a backing uuid in the form vSphere generates (6000C29...).
func diskUUID(vm string, index int) string {
	h := hexHash("disk", vm, fmt.Sprint(index))
	return fmt.Sprintf("6000C29%s-%s-%s-%s-%s", h[0:1], h[1:5], h[5:9], h[9:13], h[13:25])
}

// touch creates the files of a datastore path ("[ds] dir/name.vmdk") and its extent.
func (l *Lab) touch(dsPath string, extra ...string) error {
	var p struct{ ds, rel string }
	end := strings.Index(dsPath, "] ")
	if !strings.HasPrefix(dsPath, "[") || end < 0 {
		return fmt.Errorf("bad datastore path %q", dsPath)
	}
	p.ds, p.rel = dsPath[1:end], dsPath[end+2:]
	d := l.san.dsByName[p.ds]
	if d == nil {
		return fmt.Errorf("unknown datastore in %s", dsPath)
	}
	name := filepath.Join(d.inv.dir, p.rel)
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	names := []string{name}
	for _, suffix := range extra {
		names = append(names, name[:len(name)-len(".vmdk")]+suffix)
	}
	for _, n := range names {
		f, err := os.Create(n)
		if err != nil {
			return err
		}
		_ = f.Close()
	}
	return nil
}

// newVM builds one VM of the topology and registers it; index picks its host round robin over the
// cluster's hosts when the topology names none.
func (l *Lab) newVM(spec *VMSpec, index int) (*vmInfo, error) {
	s := l.san
	reg := simulator.Map
	ctx := l.ctx
	v := &vmInfo{spec: spec, name: spec.Name}
	// placement: the given host, else round robin over the cluster's hosts
	if spec.Host != "" {
		v.host = s.hostByName[spec.Host]
	} else {
		hosts := s.clusterHosts[spec.Cluster]
		v.host = hosts[index%len(hosts)]
	}
	h := v.host
	mounted := map[string]bool{}
	for _, d := range h.datastores {
		mounted[d.name] = true
	}
	for _, d := range spec.Disks {
		if d.Datastore != "" && !mounted[d.Datastore] {
			return nil, fmt.Errorf("host %s does not mount datastore %s", h.name, d.Datastore)
		}
		if d.RDM != "" && !containsHost(s.lunByName[d.RDM].hosts, h) {
			return nil, fmt.Errorf("host %s does not see rdm lun %s", h.name, d.RDM)
		}
	}
	if !mounted[spec.Home] {
		return nil, fmt.Errorf("host %s does not mount home datastore %s", h.name, spec.Home)
	}
	// VM folders on every datastore the VM uses (the simulator creates files, not folders)
	for _, d := range spec.Disks {
		if d.Datastore != "" && d.Datastore != spec.Home {
			if err := os.MkdirAll(filepath.Join(s.dsByName[d.Datastore].inv.dir, spec.Name), 0o700); err != nil {
				return nil, err
			}
		}
	}
	guest := spec.GuestID
	if guest == "" {
		guest = string(types.VirtualMachineGuestOsIdentifierRhel8_64Guest)
		if index%3 == 2 {
			guest = string(types.VirtualMachineGuestOsIdentifierWindows9Server64Guest)
		}
	}
	config := types.VirtualMachineConfigSpec{
		Name:     spec.Name,
		GuestId:  guest,
		Version:  vcHardwareVersion(spec),
		NumCPUs:  2,
		MemoryMB: 4096,
		Files:    &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s] %s/%s.vmx", spec.Home, spec.Name, spec.Name)},
	}
	// controllers: one per bus, key 1000+bus, on the PCI bus like vSphere places them
	ctls := map[int]types.BaseVirtualSCSIController{}
	var ctlOrder []int
	for i, d := range spec.Disks {
		if _, ok := ctls[d.Bus]; !ok {
			unit := int32(3 + d.Bus)
			base := types.VirtualSCSIController{
				VirtualController: types.VirtualController{
					VirtualDevice: types.VirtualDevice{Key: int32(1000 + d.Bus), ControllerKey: 100, UnitNumber: &unit},
					BusNumber:     int32(d.Bus),
				},
				HotAddRemove:       types.NewBool(true),
				SharedBus:          types.VirtualSCSISharingNoSharing,
				ScsiCtlrUnitNumber: 7,
			}
			if d.Controller == "lsilogic" {
				ctls[d.Bus] = &types.VirtualLsiLogicController{VirtualSCSIController: base}
			} else {
				ctls[d.Bus] = &types.ParaVirtualSCSIController{VirtualSCSIController: base}
			}
			ctlOrder = append(ctlOrder, d.Bus)
		}
		c := ctls[d.Bus].GetVirtualSCSIController()
		c.Device = append(c.Device, int32(2000+16*d.Bus+d.Unit))
		_ = i
	}
	sort.Ints(ctlOrder)
	var changes []types.BaseVirtualDeviceConfigSpec
	for _, bus := range ctlOrder {
		changes = append(changes, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationAdd,
			Device:    ctls[bus].(types.BaseVirtualDevice),
		})
	}
	nic := esx.EthernetCard
	nic.Backing = &types.VirtualEthernetCardNetworkBackingInfo{
		VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"},
	}
	changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: &nic})
	for i, d := range spec.Disks {
		if d.RDM != "" {
			continue // added after creation: the simulator only knows flat VMDKs
		}
		unit := int32(d.Unit)
		disk := &types.VirtualDisk{
			VirtualDevice: types.VirtualDevice{
				Key:           int32(2000 + 16*d.Bus + d.Unit),
				ControllerKey: int32(1000 + d.Bus),
				UnitNumber:    &unit,
				Backing: &types.VirtualDiskFlatVer2BackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: diskFile(d.Datastore, spec.Name, i)},
					DiskMode:                     string(types.VirtualDiskModePersistent),
					ThinProvisioned:              types.NewBool(true),
					Uuid:                         diskUUID(spec.Name, i),
				},
			},
			CapacityInKB:    d.SizeGB << 20,
			CapacityInBytes: d.SizeGB << 30,
		}
		changes = append(changes, &types.VirtualDeviceConfigSpec{
			Operation:     types.VirtualDeviceConfigSpecOperationAdd,
			FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate,
			Device:        disk,
		})
	}
	config.DeviceChange = changes

	res := l.vmFolder.CreateVMTask(ctx, &types.CreateVM_Task{
		This:   l.vmFolder.Self,
		Config: config,
		Pool:   *h.inv.cluster.ResourcePool,
		Host:   &h.inv.ref,
	})
	task := reg.Get(res.(*methods.CreateVM_TaskBody).Res.Returnval).(*simulator.Task)
	if task.Info.Error != nil {
		return nil, fmt.Errorf("CreateVM: %T %s", task.Info.Error.Fault, task.Info.Error.LocalizedMessage)
	}
	ref := task.Info.Result.(types.ManagedObjectReference)
	vm := reg.Get(ref).(*simulator.VirtualMachine)
	v.moref = ref.Value

	// snapshot delta chains: take the snapshots, then point the disk at its newest delta
	snapshots := false
	for i, d := range spec.Disks {
		snapshots = snapshots || d.Snapshots > 0
		for level := 1; level <= d.Snapshots; level++ {
			vm.CreateSnapshotTask(&types.CreateSnapshot_Task{This: vm.Self, Name: fmt.Sprintf("before-change-%d", level),
				Description: "lab snapshot"})
			key := int32(2000 + 16*d.Bus + d.Unit)
			devices := append([]types.BaseVirtualDevice(nil), vm.Config.Hardware.Device...)
			for j, dev := range devices {
				disk, ok := dev.(*types.VirtualDisk)
				if !ok || disk.Key != key {
					continue
				}
				parent := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
				file := deltaFile(spec.Home, spec.Name, i, level)
				if err := l.touch(file, "-delta.vmdk"); err != nil {
					return nil, err
				}
				homeRef := s.dsByName[spec.Home].inv.ref
				child := &types.VirtualDiskFlatVer2BackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: file, Datastore: &homeRef},
					DiskMode:                     parent.DiskMode,
					ThinProvisioned:              parent.ThinProvisioned,
					EagerlyScrub:                 types.NewBool(false),
					Split:                        types.NewBool(false),
					WriteThrough:                 types.NewBool(false),
					DigestEnabled:                types.NewBool(false),
					Uuid:                         parent.Uuid,
					Parent:                       parent,
					DeltaDiskFormat:              "redoLogFormat",
					DeltaGrainSize:               0,
				}
				nd := *disk
				nd.Backing = child
				devices[j] = &nd
			}
			vm.Config.Hardware.Device = devices
		}
	}
	if snapshots {
		l.chainDatastores(vm)
	}

	// physical-mode RDMs: a mapping file in the VM folder pointing at the LUN
	for i, d := range spec.Disks {
		if d.RDM == "" {
			continue
		}
		ln := s.lunByName[d.RDM]
		ln.rdmVM = spec.Name
		file := diskFile(spec.Home, spec.Name, i)
		if err := l.touch(file, "-rdmp.vmdk"); err != nil {
			return nil, err
		}
		homeRef := s.dsByName[spec.Home].inv.ref
		unit := int32(d.Unit)
		disk := &types.VirtualDisk{
			VirtualDevice: types.VirtualDevice{
				Key:           int32(2000 + 16*d.Bus + d.Unit),
				ControllerKey: int32(1000 + d.Bus),
				UnitNumber:    &unit,
				DeviceInfo:    &types.Description{Label: fmt.Sprintf("Hard disk %d", i+1), Summary: fmt.Sprintf("%d KB", ln.capacity>>10)},
				Backing: &types.VirtualDiskRawDiskMappingVer1BackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: file, Datastore: &homeRef},
					LunUuid:                      ln.uuid,
					DeviceName:                   ln.devicePath(),
					CompatibilityMode:            string(types.VirtualDiskCompatibilityModePhysicalMode),
					DiskMode:                     string(types.VirtualDiskModeIndependent_persistent),
					Uuid:                         diskUUID(spec.Name, i),
					Sharing:                      string(types.VirtualDiskSharingSharingNone),
				},
			},
			CapacityInKB:    ln.capacity >> 10,
			CapacityInBytes: ln.capacity,
		}
		vm.Config.Hardware.Device = append(append([]types.BaseVirtualDevice(nil), vm.Config.Hardware.Device...), disk)
		vm.Summary.Config.NumVirtualDisks++
	}
	// disk labels in bus/unit order, like vSphere numbers them; devices in key order, as vCenter
	// lists them (the simulator appends the RDMs after the NIC)
	l.labelDisks(vm)
	devices := append([]types.BaseVirtualDevice(nil), vm.Config.Hardware.Device...)
	sort.SliceStable(devices, func(i, j int) bool {
		return devices[i].GetVirtualDevice().Key < devices[j].GetVirtualDevice().Key
	})
	vm.Config.Hardware.Device = devices

	// powered on, VMware Tools running
	if spec.PoweredOn == nil || *spec.PoweredOn {
		now := time.Now()
		vm.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOn
		vm.Runtime.BootTime = &now
		vm.Summary.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOn
		vm.Summary.Runtime.BootTime = &now
		vm.Guest.ToolsStatus = types.VirtualMachineToolsStatusToolsOk
		vm.Guest.ToolsRunningStatus = string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
		vm.Guest.ToolsVersionStatus2 = string(types.VirtualMachineToolsVersionStatusGuestToolsCurrent)
		vm.Guest.ToolsVersion = "12352"
		vm.Guest.GuestState = "running"
		vm.Guest.HostName = spec.Name
		vm.Guest.GuestId = guest
		vm.Summary.Guest = &types.VirtualMachineGuestSummary{
			GuestId:             guest,
			ToolsStatus:         vm.Guest.ToolsStatus,
			ToolsVersionStatus2: vm.Guest.ToolsVersionStatus2,
			ToolsRunningStatus:  vm.Guest.ToolsRunningStatus,
			HostName:            spec.Name,
		}
		vm.Summary.QuickStats.GuestHeartbeatStatus = types.ManagedEntityStatusGreen
	}
	vcRefreshLayout(vm) // its files and the space they take (virtual_machine_layout.go)
	return v, nil
}

// chainDatastores records every datastore a disk's snapshot chain touches in vm.datastore.
func (l *Lab) chainDatastores(vm *simulator.VirtualMachine) {
	for _, dev := range vm.Config.Hardware.Device {
		disk, ok := dev.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		for ok && b != nil {
			if b.Datastore != nil && simulator.FindReference(vm.Datastore, *b.Datastore) == nil {
				vm.Datastore = append(vm.Datastore, *b.Datastore)
			}
			b = b.Parent
		}
	}
}

// labelDisks names the disks "Hard disk N" in controller bus and unit order, as vSphere labels them.
func (l *Lab) labelDisks(vm *simulator.VirtualMachine) {
	type slot struct {
		bus, unit int32
		disk      *types.VirtualDisk
	}
	ctlBus := map[int32]int32{}
	var slots []slot
	for _, dev := range vm.Config.Hardware.Device {
		if c, ok := dev.(types.BaseVirtualSCSIController); ok {
			sc := c.GetVirtualSCSIController()
			ctlBus[sc.Key] = sc.BusNumber
		}
	}
	for _, dev := range vm.Config.Hardware.Device {
		if d, ok := dev.(*types.VirtualDisk); ok && d.UnitNumber != nil {
			slots = append(slots, slot{ctlBus[d.ControllerKey], *d.UnitNumber, d})
		}
	}
	sort.Slice(slots, func(i, j int) bool {
		if slots[i].bus != slots[j].bus {
			return slots[i].bus < slots[j].bus
		}
		return slots[i].unit < slots[j].unit
	})
	for i, s := range slots {
		if s.disk.DeviceInfo == nil {
			s.disk.DeviceInfo = &types.Description{}
		}
		s.disk.DeviceInfo.GetDescription().Label = fmt.Sprintf("Hard disk %d", i+1)
	}
}
