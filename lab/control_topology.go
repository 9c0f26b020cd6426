package main

// GET /v1/topology: the SAN model and the inventory as one JSON document (README.md, "The control
// API"): hosts with their HBAs and paths, array LUNs and targets, datastores and their mounts, VMs
// and their disks, each with its vSphere identities and its current fault state.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type topoHBA struct {
	Device string `json:"device"`
	Key    string `json:"key"`
	Kind   string `json:"kind"`
	WWPN   string `json:"wwpn,omitempty"`
	WWNN   string `json:"wwnn,omitempty"`
	Status string `json:"status"`
	Fabric string `json:"fabric,omitempty"`
	// Protocol is "nvme" for a card's FC-NVMe adapter (nvme.go), "" for the SCSI ones
	Protocol string `json:"protocol,omitempty"`
}

type topoPath struct {
	Name      string `json:"name"`
	Lun       string `json:"lun"`
	Canonical string `json:"canonical_name"`
	HBA       string `json:"hba"`
	Target    string `json:"target"`
	State     string `json:"state"`
	Base      string `json:"initial_state"`
	Optimized bool   `json:"optimized"`
	Working   bool   `json:"working"` // isWorkingPath: carries I/O under the LUN's path policy
	Removed   bool   `json:"removed"` // a rescan removed it (its target is gone)
}

type topoHost struct {
	Name       string     `json:"name"`
	Moref      string     `json:"moref"`
	Cluster    string     `json:"cluster"`
	Connection string     `json:"connection_state"`
	HBAs       []topoHBA  `json:"hbas"`
	Luns       []string   `json:"luns"`
	Datastores []string   `json:"datastores"`
	Paths      []topoPath `json:"paths"`
}

type topoLun struct {
	Name      string   `json:"name"`
	Canonical string   `json:"canonical_name"`
	UUID      string   `json:"uuid"`
	Array     string   `json:"array"`
	ID        int      `json:"id"`
	SSD       bool     `json:"ssd"`
	VAAI      bool     `json:"vaai"`
	Capacity  int64    `json:"capacity_bytes"`
	Owner     string   `json:"owner_controller"`
	Policy    string   `json:"path_policy"`
	SATP      string   `json:"satp"`
	State     string   `json:"state"`
	Datastore string   `json:"datastore,omitempty"`
	RDMOf     string   `json:"rdm_of,omitempty"`
	ReplicaOf string   `json:"replica_of,omitempty"`
	Hosts     []string `json:"hosts"`
	Fabrics   []string `json:"fabrics"` // the fabrics it is presented through
}

type topoTarget struct {
	Name       string `json:"name"`
	Array      string `json:"array"`
	Controller string `json:"controller"`
	Port       int    `json:"port"`
	WWPN       string `json:"wwpn"`
	WWNN       string `json:"wwnn"`
	State      string `json:"state"`
}

type topoMount struct {
	Host       string `json:"host"`
	Accessible bool   `json:"accessible"`
	Reason     string `json:"inaccessible_reason,omitempty"`
}

type topoDatastore struct {
	Name       string      `json:"name"`
	Moref      string      `json:"moref"`
	Type       string      `json:"type"`
	UUID       string      `json:"uuid"`
	Extents    []string    `json:"extents,omitempty"`
	Luns       []string    `json:"luns,omitempty"`
	Remote     string      `json:"remote,omitempty"`
	Capacity   int64       `json:"capacity_bytes"`
	Local      bool        `json:"local"`
	Replica    string      `json:"replica,omitempty"`
	ReplicaOf  string      `json:"replica_of,omitempty"`
	Accessible bool        `json:"accessible"`
	Mounts     []topoMount `json:"mounts"`
}

type topoDisk struct {
	Label      string   `json:"label"`
	Key        int32    `json:"key"`
	Controller string   `json:"controller"`
	Bus        int32    `json:"bus"`
	Unit       int32    `json:"unit"`
	Backing    string   `json:"backing"`
	UUID       string   `json:"uuid"`
	Capacity   int64    `json:"capacity_bytes"`
	Files      []string `json:"files,omitempty"`
	Datastores []string `json:"datastores,omitempty"`
	Lun        string   `json:"lun,omitempty"`
}

type topoVM struct {
	Name  string     `json:"name"`
	Moref string     `json:"moref"`
	Host  string     `json:"host"`
	Power string     `json:"power_state"`
	Disks []topoDisk `json:"disks"`
}

type topoArray struct {
	Name        string   `json:"name"`
	Access      string   `json:"access"`
	Vendor      string   `json:"vendor"`
	Model       string   `json:"model"`
	Controllers []string `json:"controllers"`
	Targets     []string `json:"targets"`
}

func (l *Lab) topologyDoc() map[string]interface{} {
	s := l.san
	doc := map[string]interface{}{"datacenter": s.topo.Datacenter}
	var hostByRef = map[string]string{}
	for _, h := range s.hosts {
		hostByRef[h.inv.ref.Value] = h.name
	}
	dsByRef := map[string]string{}
	for _, d := range s.datastores {
		dsByRef[d.inv.ref.Value] = d.name
	}
	lunByUUID := map[string]string{}
	for _, ln := range s.luns {
		lunByUUID[ln.uuid] = ln.name
	}

	s.mu.Lock()
	var arrays []topoArray
	for _, a := range s.arrays {
		ta := topoArray{Name: a.name, Access: a.access, Vendor: a.spec.Vendor, Model: a.spec.Model}
		for c := 0; c < a.spec.Controllers; c++ {
			ta.Controllers = append(ta.Controllers, fmt.Sprintf("%s-ctl%d", a.name, c))
		}
		for _, t := range a.targets {
			ta.Targets = append(ta.Targets, t.name)
		}
		arrays = append(arrays, ta)
	}
	var targets []topoTarget
	for _, t := range s.targets {
		st := "ok"
		if t.linkDown() {
			st = "dead"
		}
		targets = append(targets, topoTarget{Name: t.name, Array: t.array.name, Controller: fmt.Sprintf("%s-ctl%d", t.array.name, t.ctl),
			Port: t.port, WWPN: s.formatWWN(t.wwpn), WWNN: s.formatWWN(t.wwnn), State: st})
	}
	fabrics := s.fabricsView()
	var luns []topoLun
	for _, ln := range s.luns {
		tl := topoLun{Name: ln.name, Canonical: ln.canonical, UUID: ln.uuid, Array: ln.array.name, ID: ln.id, SSD: ln.ssd,
			VAAI: ln.vaai, Capacity: ln.capacity, Owner: fmt.Sprintf("%s-ctl%d", ln.array.name, ln.owner), State: ln.state,
			Policy: ln.psp, SATP: ln.array.satp(),
			RDMOf: ln.rdmVM, ReplicaOf: ln.spec.ReplicaOf, Hosts: []string{}, Fabrics: []string{}}
		for i := range s.fabrics {
			if onFabric(ln.spec, i) {
				tl.Fabrics = append(tl.Fabrics, fabricName(i))
			}
		}
		if ln.ds != nil {
			tl.Datastore = ln.ds.name
		}
		for _, h := range ln.hosts {
			tl.Hosts = append(tl.Hosts, h.name)
		}
		luns = append(luns, tl)
	}
	var hosts []topoHost
	for _, h := range s.hosts {
		th := topoHost{Name: h.name, Moref: h.inv.ref.Value, Cluster: h.cluster, Connection: h.conn, Luns: []string{}, Datastores: []string{}}
		for _, hb := range h.hbas {
			x := topoHBA{Device: hb.device, Key: hb.key, Status: hb.status()}
			if hb.fabric < 0 {
				x.Kind = "sas"
			} else {
				x.Kind = "fc"
				x.WWPN, x.WWNN = s.formatWWN(hb.wwpn), s.formatWWN(hb.wwnn)
				x.Fabric = string(rune('A' + hb.fabric))
			}
			th.HBAs = append(th.HBAs, x)
		}
		for _, hb := range s.nvmeCards(h) {
			th.HBAs = append(th.HBAs, topoHBA{Device: nvmeDevice(hb), Key: nvmeKey(hb), Kind: "fc", Status: hb.status(),
				WWPN: s.formatWWN(hb.wwpn), WWNN: s.formatWWN(hb.wwnn), Fabric: string(rune('A' + hb.fabric)),
				Protocol: protocolNVMe})
		}
		for _, ln := range h.luns {
			th.Luns = append(th.Luns, ln.canonical)
		}
		for _, d := range h.datastores {
			th.Datastores = append(th.Datastores, d.name)
		}
		views := map[*path]pathView{}
		for _, ln := range h.luns {
			for _, v := range s.lunView(h, ln) {
				views[v.p] = v
			}
		}
		for _, p := range h.paths {
			v := views[p]
			state := v.state
			if p.removed {
				state = p.state()
			}
			tp := topoPath{Name: p.name, Lun: p.lun.name, Canonical: p.lun.canonical, HBA: p.hba.device, State: state, Base: p.base,
				Optimized: p.optimized, Working: v.working, Removed: p.removed}
			if p.lun.nvme() {
				tp.HBA = nvmeDevice(p.hba)
			}
			if p.target != nil {
				tp.Target = p.target.name
			}
			th.Paths = append(th.Paths, tp)
		}
		hosts = append(hosts, th)
	}
	var dss []topoDatastore
	for _, d := range s.datastores {
		td := topoDatastore{Name: d.name, Moref: d.inv.ref.Value, Type: d.kind, UUID: d.uuid, Capacity: d.capacity,
			Local: d.localHost != nil, Replica: d.replica, ReplicaOf: d.replicaOf, Accessible: s.accessible(d), Mounts: []topoMount{}}
		if d.kind == "NFS" {
			td.Remote = d.remoteHost + ":" + d.remotePath
		}
		for _, ln := range d.extents {
			td.Extents = append(td.Extents, ln.canonical)
			td.Luns = append(td.Luns, ln.name)
		}
		for _, h := range d.hosts {
			ok, reason := s.mount(h, d)
			td.Mounts = append(td.Mounts, topoMount{Host: h.name, Accessible: ok, Reason: reason})
		}
		dss = append(dss, td)
	}
	vmRefs := make([]string, 0, len(s.vms))
	for _, v := range s.vms {
		vmRefs = append(vmRefs, v.moref)
	}
	s.mu.Unlock()

	var vms []topoVM
	for _, ref := range vmRefs {
		vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}).(*simulator.VirtualMachine)
		if !ok {
			continue // destroyed through the API
		}
		simulator.Map.WithLock(vm, func() {
			tv := topoVM{Name: vm.Name, Moref: ref, Power: string(vm.Runtime.PowerState), Disks: []topoDisk{}}
			if vm.Runtime.Host != nil {
				tv.Host = hostByRef[vm.Runtime.Host.Value]
			}
			ctl := map[int32]types.BaseVirtualDevice{}
			for _, dev := range vm.Config.Hardware.Device {
				if c, ok := dev.(types.BaseVirtualSCSIController); ok {
					ctl[c.GetVirtualSCSIController().Key] = dev
				}
			}
			for _, dev := range vm.Config.Hardware.Device {
				disk, ok := dev.(*types.VirtualDisk)
				if !ok {
					continue
				}
				td := topoDisk{Key: disk.Key, Capacity: disk.CapacityInBytes}
				if disk.DeviceInfo != nil {
					td.Label = disk.DeviceInfo.GetDescription().Label
				}
				if disk.UnitNumber != nil {
					td.Unit = *disk.UnitNumber
				}
				if c, ok := ctl[disk.ControllerKey]; ok {
					td.Bus = c.(types.BaseVirtualSCSIController).GetVirtualSCSIController().BusNumber
					switch c.(type) {
					case *types.ParaVirtualSCSIController:
						td.Controller = "pvscsi"
					case *types.VirtualLsiLogicController:
						td.Controller = "lsilogic"
					case *types.VirtualLsiLogicSASController:
						td.Controller = "lsilogic-sas"
					case *types.VirtualBusLogicController:
						td.Controller = "buslogic"
					}
				}
				seen := map[string]bool{}
				addDS := func(ref *types.ManagedObjectReference, file string) {
					td.Files = append(td.Files, file)
					name := ""
					if ref != nil {
						name = dsByRef[ref.Value]
					}
					if name == "" && strings.HasPrefix(file, "[") {
						name = file[1:strings.Index(file, "]")]
					}
					if name != "" && !seen[name] {
						seen[name] = true
						td.Datastores = append(td.Datastores, name)
					}
				}
				switch b := disk.Backing.(type) {
				case *types.VirtualDiskFlatVer2BackingInfo:
					td.Backing = "vmdk"
					td.UUID = b.Uuid
					for x := b; x != nil; x = x.Parent {
						addDS(x.Datastore, x.FileName)
					}
				case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
					td.Backing = "rdm_" + strings.TrimSuffix(b.CompatibilityMode, "Mode")
					td.UUID = b.Uuid
					td.Lun = lunByUUID[b.LunUuid]
					addDS(b.Datastore, b.FileName)
				default:
					td.Backing = "other"
				}
				tv.Disks = append(tv.Disks, td)
			}
			sort.Slice(tv.Disks, func(i, j int) bool {
				if tv.Disks[i].Bus != tv.Disks[j].Bus {
					return tv.Disks[i].Bus < tv.Disks[j].Bus
				}
				return tv.Disks[i].Unit < tv.Disks[j].Unit
			})
			vms = append(vms, tv)
		})
	}
	doc["arrays"] = arrays
	doc["targets"] = targets
	doc["fabrics"] = fabrics
	doc["luns"] = luns
	doc["hosts"] = hosts
	doc["datastores"] = dss
	doc["vms"] = vms
	for _, extra := range topologyExtras {
		extra(doc)
	}
	return doc
}

// topologyExtras add what other files know to GET /v1/topology (health_update_manager.go).
var topologyExtras []func(doc map[string]interface{})
