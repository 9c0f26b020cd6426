package main

// Rendering the SAN model into the vSphere structs a host reports. Every render builds fresh
// structs (copy-on-write): a response being encoded from an older render is never mutated.

import (
	"fmt"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

// hostRender is everything storage-related one host reports, for one moment.
type hostRender struct {
	seq   uint64
	sdi   *types.HostStorageDeviceInfo
	mps   *types.HostMultipathStateInfo
	fsv   *types.HostFileSystemVolumeInfo
	conn  types.HostSystemConnectionState
	mount map[*datastore]types.HostMountInfo
	view  map[*lun]devView // what the host's storage events compare (storage_events.go)
}

type dsRender struct {
	seq        uint64
	mounts     []types.DatastoreHostMount
	accessible bool
}

func vStorage(ok bool) string {
	if ok {
		return "vStorageSupported"
	}
	return "vStorageUnsupported"
}

func boolp(b bool) *bool { return &b }

func (s *san) renderHBA(h *host, hb *hba) types.BaseHostHostBusAdapter {
	status := hb.status()
	if hb.fabric < 0 {
		return &types.HostSerialAttachedHba{
			HostHostBusAdapter: types.HostHostBusAdapter{
				Key: hb.key, Device: hb.device, Bus: hb.bus, Status: status,
				Model: "Dell HBA330 Mini", Driver: "lsi_msgpt3", Pci: hb.pci, StorageProtocol: "scsi",
			},
			NodeWorldWideName: fmt.Sprintf("%016x", uint64(hb.wwnn)),
		}
	}
	// a pulled cable: no link, so no operating mode (FibreChannelPortType unknown) and no speed
	portType, speed := types.FibreChannelPortTypeFabric, int64(32)
	if hb.linkDown() {
		portType, speed = types.FibreChannelPortTypeUnknown, 0
	}
	return &types.HostFibreChannelHba{
		HostHostBusAdapter: types.HostHostBusAdapter{
			Key: hb.key, Device: hb.device, Bus: hb.bus, Status: status,
			Model:  "Emulex LightPulse LPe32000 PCIe Fibre Channel Adapter",
			Driver: "lpfc", Pci: hb.pci, StorageProtocol: "scsi",
		},
		PortWorldWideName: hb.wwpn,
		NodeWorldWideName: hb.wwnn,
		PortType:          portType,
		Speed:             speed,
	}
}

// Operational states (API enum ScsiLunState).
const (
	opOK                = "ok"
	opError             = "error"
	opDegraded          = "degraded"
	opLostCommunication = "lostCommunication"
)

// operationalState is ScsiLun.operationalState[0] of l as host h reports it. Documented: PDL is Lost
// Communication, an APD past its timeout "Dead or Error" (vSphere Storage). Read from the enum's text
// only, so selectable per fault: degraded while a path is down (the path, hba or target fault's
// operational_state), any state for a lun fault (its operational_state). Caller holds s.mu.
func (s *san) operationalState(h *host, l *lun, views []pathView) string {
	if l.reading != "" && l.state != lunOK {
		return l.reading
	}
	if l.state == lunPDL {
		return opLostCommunication
	}
	switch h.apdPhase(l) {
	case 2:
		return opError
	case 1:
		return opOK
	}
	if upPaths(views) > 0 {
		for _, v := range views {
			if v.state != stateDead {
				continue
			}
			p := v.p
			if p.reading == opDegraded || (p.hba.dead && p.hba.reading == opDegraded) ||
				(p.target != nil && p.target.dead && p.target.reading == opDegraded) ||
				(p.hba.sw != nil && p.hba.sw.down && p.hba.sw.reading == opDegraded) {
				return opDegraded
			}
		}
	}
	return opOK
}

func (s *san) renderLun(l *lun, state string) types.BaseScsiLun {
	op := []string{state}
	display := fmt.Sprintf("%s Fibre Channel Disk (%s)", l.vendor, l.canonical)
	vaai := vStorage(l.vaai)
	if l.local {
		display = fmt.Sprintf("Local %s Disk (%s)", l.vendor, l.canonical)
		vaai = "vStorageUnsupported"
	}
	if l.nvme() {
		display = fmt.Sprintf("NVMe Fibre Channel Disk (%s)", l.canonical)
	}
	return &types.HostScsiDisk{
		ScsiLun: types.ScsiLun{
			HostDevice:    types.HostDevice{DeviceName: l.devicePath(), DeviceType: "disk"},
			Key:           l.scsiKey(),
			Uuid:          l.uuid,
			CanonicalName: l.canonical,
			DisplayName:   display,
			LunType:       "disk",
			Vendor:        l.vendor,
			Model:         l.model,
			Revision:      "8888",
			ScsiLevel:     6,
			SerialNumber:  l.serial,
			Descriptor: []types.ScsiLunDescriptor{
				{Quality: "highQuality", Id: l.canonical},
				{Quality: "mediumQuality", Id: l.uuid},
			},
			QueueDepth:          32,
			OperationalState:    op,
			VStorageSupport:     vaai,
			ProtocolEndpoint:    boolp(false),
			PerenniallyReserved: boolp(false),
		},
		Capacity:     types.HostDiskDimensionsLba{BlockSize: 512, Block: l.capacity / 512},
		DevicePath:   l.devicePath(),
		Ssd:          boolp(l.ssd),
		LocalDisk:    boolp(l.local),
		ScsiDiskType: "native512",
	}
}

func (s *san) transport(p *path) types.BaseHostTargetTransport {
	if p.target == nil {
		return &types.HostSerialAttachedTargetTransport{}
	}
	return &types.HostFibreChannelTargetTransport{PortWorldWideName: p.target.wwpn, NodeWorldWideName: p.target.wwnn}
}

// vmfsVolume is the HostVmfsVolume of a VMFS datastore (the same on every host: it is immutable).
func (s *san) vmfsVolume(d *datastore) *types.HostVmfsVolume {
	v := &types.HostVmfsVolume{
		HostFileSystemVolume: types.HostFileSystemVolume{Type: "VMFS", Name: d.name, Capacity: d.capacity},
		BlockSizeMb:          1,
		BlockSize:            1024,
		UnmapGranularity:     1024,
		UnmapPriority:        "low",
		MaxBlocks:            63963136,
		MajorVersion:         6,
		Version:              "6.82",
		Uuid:                 d.uuid,
		VmfsUpgradable:       false,
		Ssd:                  boolp(d.ssd),
		Local:                boolp(d.localHost != nil),
		ScsiDiskType:         "native512",
	}
	for _, l := range d.extents {
		v.Extent = append(v.Extent, types.HostScsiDiskPartition{DiskName: l.canonical, Partition: 1})
	}
	return v
}

func (s *san) nasVolume(d *datastore) *types.HostNasVolume {
	return &types.HostNasVolume{
		HostFileSystemVolume: types.HostFileSystemVolume{Type: "NFS", Name: d.name, Capacity: d.capacity},
		RemoteHost:           d.remoteHost,
		RemotePath:           d.remotePath,
		RemoteHostNames:      []string{d.remoteHost},
		SecurityType:         "AUTH_SYS",
		ProtocolEndpoint:     boolp(false),
	}
}

func (s *san) volume(d *datastore) types.BaseHostFileSystemVolume {
	if d.inv != nil && d.inv.volume != nil {
		return d.inv.volume
	}
	if d.kind == "NFS" {
		return s.nasVolume(d)
	}
	return s.vmfsVolume(d)
}

func (s *san) mountInfo(h *host, d *datastore) types.HostMountInfo {
	ok, reason := s.mount(h, d)
	return types.HostMountInfo{
		Path:               d.mountPath(),
		AccessMode:         "readWrite",
		Mounted:            boolp(true),
		Accessible:         boolp(ok),
		InaccessibleReason: reason,
	}
}

// renderHost builds config.storageDevice, config.multipathState and config.fileSystemVolume of a
// host. Caller holds s.mu.
func (s *san) renderHost(h *host) *hostRender {
	s.seq++
	r := &hostRender{seq: s.seq, conn: types.HostSystemConnectionState(h.conn), mount: map[*datastore]types.HostMountInfo{},
		view: map[*lun]devView{}}
	sdi := &types.HostStorageDeviceInfo{SoftwareInternetScsiEnabled: false}
	for _, hb := range h.hbas {
		sdi.HostBusAdapter = append(sdi.HostBusAdapter, s.renderHBA(h, hb))
	}
	sdi.HostBusAdapter = append(sdi.HostBusAdapter, s.nvmeAdapters(h)...) // nvme.go
	views := map[*lun][]pathView{}
	for _, l := range h.luns {
		views[l] = s.lunView(h, l)
		sdi.ScsiLun = append(sdi.ScsiLun, s.renderLun(l, s.operationalState(h, l, views[l])))
		r.view[l] = s.devView(h, l, views[l])
	}
	// scsiTopology: adapter -> target -> lun, static (what the host discovered)
	topo := &types.HostScsiTopology{}
	mpi := &types.HostMultipathInfo{}
	mps := &types.HostMultipathStateInfo{}
	for _, hb := range h.hbas {
		iface := types.HostScsiTopologyInterface{Key: "key-vim.host.ScsiTopology.Interface-" + hb.device, Adapter: hb.key}
		ntargets := len(hb.targets)
		if hb.fabric < 0 {
			ntargets = 1
		}
		for ti := 0; ti < ntargets; ti++ {
			if hb.fabric >= 0 && h.goneTargets[hb.targets[ti].name+"/"+hb.device] {
				continue // a rescan found the target gone
			}
			if hb.fabric >= 0 && hb.targets[ti].array.nvme() {
				continue // an NVMe controller: in nvmeTopology (nvme.go)
			}
			tgt := types.HostScsiTopologyTarget{Key: fmt.Sprintf("key-vim.host.ScsiTopology.Target-%s:0:%d", hb.device, ti), Target: int32(ti)}
			for _, p := range h.paths {
				if p.hba != hb || p.tindex != ti || p.removed {
					continue
				}
				tgt.Lun = append(tgt.Lun, types.HostScsiTopologyLun{
					Key:     fmt.Sprintf("key-vim.host.ScsiTopology.Lun-%s:%d:%s", hb.device, ti, p.lun.uuid),
					Lun:     int32(p.lun.id),
					ScsiLun: p.lun.scsiKey(),
				})
				tgt.Transport = s.transport(p)
			}
			if tgt.Transport == nil {
				if hb.fabric >= 0 {
					tg := hb.targets[ti]
					tgt.Transport = &types.HostFibreChannelTargetTransport{PortWorldWideName: tg.wwpn, NodeWorldWideName: tg.wwnn}
				} else {
					tgt.Transport = &types.HostSerialAttachedTargetTransport{}
				}
			}
			iface.Target = append(iface.Target, tgt)
		}
		topo.Adapter = append(topo.Adapter, iface)
	}
	for _, l := range h.luns {
		if l.nvme() { // claimed by HPP: no multipathInfo entry, its paths only in multipathState
			for _, v := range views[l] {
				mps.Path = append(mps.Path, types.HostMultipathStateInfoPath{Name: v.p.name, PathState: v.state})
			}
			continue
		}
		lu := types.HostMultipathInfoLogicalUnit{Key: l.luKey(), Id: l.uuid, Lun: l.scsiKey()}
		if l.local {
			lu.Policy = &types.HostMultipathInfoFixedLogicalUnitPolicy{
				HostMultipathInfoLogicalUnitPolicy: types.HostMultipathInfoLogicalUnitPolicy{Policy: "VMW_PSP_FIXED"},
				Prefer:                             "vmhba0:C0:T0:L0",
			}
			lu.StorageArrayTypePolicy = &types.HostMultipathInfoLogicalUnitStorageArrayTypePolicy{Policy: "VMW_SATP_LOCAL"}
		} else {
			lu.Policy = &types.HostMultipathInfoLogicalUnitPolicy{Policy: l.psp}
			if pref := h.preferred[l]; l.psp == pspFixed && pref != nil {
				lu.Policy = &types.HostMultipathInfoFixedLogicalUnitPolicy{
					HostMultipathInfoLogicalUnitPolicy: types.HostMultipathInfoLogicalUnitPolicy{Policy: l.psp},
					Prefer:                             pref.name,
				}
			}
			lu.StorageArrayTypePolicy = &types.HostMultipathInfoLogicalUnitStorageArrayTypePolicy{Policy: l.array.satp()}
		}
		for _, v := range views[l] {
			p, st := v.p, v.state
			lu.Path = append(lu.Path, types.HostMultipathInfoPath{
				Key:           "key-vim.host.MultipathInfo.Path-" + p.name,
				Name:          p.name,
				PathState:     st,
				State:         st,
				IsWorkingPath: boolp(v.working), // multipath.go: the path selection policy
				Adapter:       p.hba.key,
				// vSphere: "key of the LogicalUnit to which this path belongs"
				Lun:       l.luKey(),
				Transport: s.transport(p),
			})
			mps.Path = append(mps.Path, types.HostMultipathStateInfoPath{Name: p.name, PathState: st})
		}
		mpi.Lun = append(mpi.Lun, lu)
	}
	sdi.ScsiTopology = topo
	sdi.MultipathInfo = mpi
	sdi.NvmeTopology = s.nvmeTopology(h)
	fsv := &types.HostFileSystemVolumeInfo{VolumeTypeList: []string{"VMFS", "NFS", "NFS41", "vsan", "VVOL", "VFFS", "OTHER", "PMEM"}}
	for _, d := range h.datastores {
		mi := s.mountInfo(h, d)
		r.mount[d] = mi
		h.pubMount[d] = mi
		fsv.MountInfo = append(fsv.MountInfo, types.HostFileSystemMountInfo{
			MountInfo:       mi,
			Volume:          s.volume(d),
			VStorageSupport: vStorage(d.vaai),
		})
	}
	r.sdi, r.mps, r.fsv = sdi, mps, fsv
	return r
}

// renderDatastore builds datastore.host and summary.accessible. Caller holds s.mu.
func (s *san) renderDatastore(d *datastore) *dsRender {
	s.seq++
	r := &dsRender{seq: s.seq}
	for _, h := range d.hosts {
		mi, ok := h.pubMount[d]
		if h.conn == "connected" || !ok {
			mi = s.mountInfo(h, d)
		} // vCenter keeps the last mount state a host that is not connected reported
		r.mounts = append(r.mounts, types.DatastoreHostMount{Key: h.inv.ref, MountInfo: mi})
	}
	r.accessible = s.accessible(d)
	return r
}

func (s *san) datastoreInfo(d *datastore, url string, free int64) types.BaseDatastoreInfo {
	now := time.Now()
	base := types.DatastoreInfo{
		Name:                   d.name,
		Url:                    url,
		FreeSpace:              free,
		MaxFileSize:            62 << 40,
		MaxVirtualDiskCapacity: 62 << 40,
		MaxMemoryFileSize:      62 << 40,
		Timestamp:              &now,
		ContainerId:            d.uuid,
	}
	if d.kind == "NFS" {
		return &types.NasDatastoreInfo{DatastoreInfo: base, Nas: d.inv.volume.(*types.HostNasVolume)}
	}
	return &types.VmfsDatastoreInfo{
		DatastoreInfo:          base,
		MaxPhysicalRDMFileSize: 64 << 40,
		MaxVirtualRDMFileSize:  62 << 40,
		Vmfs:                   d.inv.volume.(*types.HostVmfsVolume),
	}
}

// mount reports whether host h can use datastore d, and if not why, as ESXi reports it in
// HostMountInfo.inaccessibleReason: a PDL on any extent wins, then an extent whose APD on this host
// timed out, then one in APD (apd.go: the host has no working path to it).
func (s *san) mount(h *host, d *datastore) (bool, string) {
	if d.kind != "VMFS" {
		return true, ""
	}
	for _, l := range d.extents {
		if l.state == lunPDL {
			return false, "PermanentDeviceLoss"
		}
	}
	phase := 0
	for _, l := range d.extents {
		if p := h.apdPhase(l); p > phase {
			phase = p
		}
	}
	switch phase {
	case 2:
		return false, "AllPathsDown_Timeout"
	case 1:
		return false, "AllPathsDown_Start"
	}
	return true, ""
}

// accessible is Datastore.summary.accessible as vCenter computes it: true when at least one
// connected host can reach the datastore.
func (s *san) accessible(d *datastore) bool {
	for _, h := range d.hosts {
		if h.conn != "connected" {
			continue
		}
		if ok, _ := s.mount(h, d); ok {
			return true
		}
	}
	return false
}
