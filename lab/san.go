package main

// The SAN model: arrays, target ports, LUNs, hosts with their HBAs and paths, datastores, plus the
// fault state. It is plain Go data; storage.go renders it into the vSphere structs a host reports,
// faults.go changes the fault state and publishes the re-rendered structs.

import (
	"fmt"
	"sort"
	"sync"

	"github.com/vmware/govmomi/vim25/types"
)

// Path states as vSphere reports them (HostMultipathInfoPath.pathState/state).
const (
	stateActive   = "active"
	stateStandby  = "standby"
	stateDisabled = "disabled"
	stateDead     = "dead"
)

// LUN fault states of the control API.
const (
	lunOK         = "ok"
	lunPDL        = "pdl"
	lunAPD        = "apd"
	lunAPDTimeout = "apd_timeout"
)

type array struct {
	spec    *ArraySpec
	name    string
	access  string // alua, alua_standby, active_active (topology.go)
	wwnn    int64
	targets []*target
}

// satp is the storage array type plug-in ESXi claims the array's LUNs with.
func (a *array) satp() string {
	if a.access == accessActive {
		return "VMW_SATP_DEFAULT_AA"
	}
	return "VMW_SATP_ALUA"
}

type target struct {
	name    string // "A-ctl0-p0"
	array   *array
	ctl     int
	port    int // == fabric: port 0 on fabric A (vmhba2), port 1 on fabric B (vmhba3)
	wwpn    int64
	wwnn    int64
	dead    bool   // fault state
	reading string // operational state the fault gives the LUNs it degrades ("degraded" or "")
	sw      *fabric
}

type lun struct {
	spec      *LunSpec // nil for a host's local disk
	name      string
	array     *array // nil for a local disk
	id        int
	canonical string // naa.*
	uuid      string // ScsiLun.uuid
	capacity  int64  // bytes
	ssd       bool
	vaai      bool
	local     bool
	owner     int
	vendor    string
	model     string
	serial    string
	state     string     // fault state: ok, pdl, apd, apd_timeout
	reading   string     // operational state a lun fault selected ("" = the documented default)
	psp       string     // path selection policy (VMW_PSP_RR, _MRU, _FIXED)
	ds        *datastore // VMFS datastore using it as an extent, if any
	rdmVM     string     // VM mapping it as an RDM, if any
	hosts     []*host    // hosts it is presented to
}

func (l *lun) scsiKey() string { return "key-vim.host.ScsiDisk-" + l.uuid }
func (l *lun) luKey() string   { return "key-vim.host.MultipathInfo.LogicalUnit-" + l.uuid }
func (l *lun) devicePath() string {
	return "/vmfs/devices/disks/" + l.canonical
}

type hba struct {
	device  string // vmhba2
	key     string
	fabric  int // 0, 1; -1 for the local SAS adapter
	wwpn    int64
	wwnn    int64
	bus     int32
	pci     string
	dead    bool      // fault state: the link is down (cable pulled)
	reading string    // operational state the fault gives the LUNs it degrades ("degraded" or "")
	targets []*target // reachable targets, index = SCSI target number T
	sw      *fabric   // the fabric (switch) it is cabled to; nil for a local adapter
}

// status is HostHostBusAdapter.status: an FC HBA is "online" or "offline"; ESXi reports local
// adapters (SAS, SATA, NVMe) as "unknown" (a recorded vCenter 8 reply; ../shared/VSPHERE-FACTS.md).
func (hb *hba) status() string {
	switch {
	case hb.linkDown():
		return "offline"
	case hb.fabric < 0:
		return "unknown"
	}
	return "online"
}

type path struct {
	name      string // vmhba2:C0:T0:L1
	host      *host
	hba       *hba
	target    *target // nil for the local disk
	lun       *lun
	tindex    int
	base      string // ALUA state of its target port group: active or standby
	optimized bool   // ALUA active/optimized (symmetric arrays: every path)
	override  string // control API or DisableMultipathPath; "" = none
	reading   string // operational state the path fault gives its LUN ("degraded" or "")
	removed   bool   // a rescan removed it (its target was gone); back when the fault ends
}

// state is the effective path state: a dead HBA, target or LUN kills the path; otherwise an explicit
// override (fault/path, DisableMultipathPath) wins over the ALUA state.
func (p *path) state() string {
	if p.lun.state != lunOK || p.hba.linkDown() || (p.target != nil && p.target.linkDown()) {
		return stateDead
	}
	if p.override != "" {
		return p.override
	}
	return p.base
}

func working(state string) bool { return state == stateActive || state == stateStandby }

// targetGone: the host no longer sees the path's target port (link down, port dead), so a rescan
// drops the path.
func (p *path) targetGone() bool {
	return p.hba.linkDown() || (p.target != nil && p.target.linkDown())
}

type host struct {
	name       string
	cluster    string
	index      int
	hbas       []*hba
	hbaByName  map[string]*hba
	luns       []*lun // local disk first, then array LUNs in topology order
	paths      []*path
	pathByName map[string]*path
	local      *lun
	datastores []*datastore
	conn       string // runtime.connectionState
	vms        []*vmInfo

	lunPaths  map[*lun][]*path // the host's paths to each LUN, in path order
	preferred map[*lun]*path   // VMW_PSP_FIXED: the preferred path
	mru       map[*lun]*path   // VMW_PSP_MRU: the path in use
	// targets a rescan found gone ("<target>/<hba>"): not in scsiTopology until the fault ends
	goneTargets map[string]bool
	apd         map[*lun]*apdState
	opts        hostOptions

	// what vCenter last published of this host (a host that is not connected keeps it)
	view     map[*lun]devView
	pubMount map[*datastore]types.HostMountInfo
	issues   []types.BaseEvent // configIssue: the host's open esx.problem events

	inv   *hostInventory // the simulator objects (inventory.go)
	pubMu sync.Mutex
	seq   uint64 // last published render
}

type datastore struct {
	spec       *DatastoreSpec // nil for a local datastore
	name       string
	kind       string // VMFS, NFS
	extents    []*lun
	hosts      []*host
	uuid       string // VMFS uuid, or the NFS volume id
	capacity   int64
	localHost  *host
	replicaOf  string
	replica    string
	remoteHost string
	remotePath string
	ssd        bool
	vaai       bool

	inv *dsInventory
	seq uint64
}

func (d *datastore) mountPath() string { return "/vmfs/volumes/" + d.uuid }

type vmInfo struct {
	spec  *VMSpec
	name  string
	host  *host
	moref string
	disks []diskInfo
}

type diskInfo struct {
	label      string
	controller string
	bus, unit  int
	key        int32
	uuid       string
	files      []string // top first
	datastores []string
	rdm        *lun
	capacity   int64
}

// san is the whole lab model. mu guards every fault field (target.dead, lun.state, hba.dead,
// path.override, host.conn) and seq.
type san struct {
	topo          *Topology
	arrays        []*array
	targets       []*target
	targetByName  map[string]*target
	luns          []*lun // array LUNs
	lunByName     map[string]*lun
	hosts         []*host
	hostByName    map[string]*host
	datastores    []*datastore
	dsByName      map[string]*datastore
	vms           []*vmInfo
	clusterHosts  map[string][]*host
	clusterOrder  []string
	fabrics       []*fabric // by port number: fabric A is port 0
	mu            sync.Mutex
	seq           uint64
	faultsApplied int
}

func newSAN(t *Topology) (*san, error) {
	s := &san{
		topo:         t,
		targetByName: map[string]*target{},
		lunByName:    map[string]*lun{},
		hostByName:   map[string]*host{},
		dsByName:     map[string]*datastore{},
		clusterHosts: map[string][]*host{},
	}
	for i := range t.Arrays {
		spec := &t.Arrays[i]
		a := &array{spec: spec, name: spec.Name, access: spec.Access, wwnn: int64(0x524a937000000000) | int64(spec.Serial)<<8}
		for c := 0; c < spec.Controllers; c++ {
			for p := 0; p < spec.Ports; p++ {
				tg := &target{
					name:  fmt.Sprintf("%s-ctl%d-p%d", spec.Name, c, p),
					array: a, ctl: c, port: p, sw: s.fabric(p),
					wwpn: int64(0x524a937000000000) | int64(spec.Serial)<<8 | int64(c<<4|p) + 0x10,
					wwnn: a.wwnn,
				}
				a.targets = append(a.targets, tg)
				s.targets = append(s.targets, tg)
				s.targetByName[tg.name] = tg
			}
		}
		s.arrays = append(s.arrays, a)
	}
	arrays := map[string]*array{}
	for _, a := range s.arrays {
		arrays[a.name] = a
	}
	// hosts and HBAs
	wiring := map[string][]int{}
	for _, hs := range t.Hosts {
		for _, f := range hs.Fabrics {
			port, _ := fabricIndex(f)
			wiring[hs.Name] = append(wiring[hs.Name], port)
		}
	}
	idx := 0
	for ci, c := range t.Clusters {
		s.clusterOrder = append(s.clusterOrder, c.Name)
		for hi, name := range c.Hosts {
			h := &host{name: name, cluster: c.Name, index: idx, hbaByName: map[string]*hba{}, pathByName: map[string]*path{},
				conn: "connected", lunPaths: map[*lun][]*path{}, preferred: map[*lun]*path{}, mru: map[*lun]*path{},
				goneTargets: map[string]bool{},
				apd:         map[*lun]*apdState{}, opts: defaultHostOptions(), view: map[*lun]devView{},
				pubMount: map[*datastore]types.HostMountInfo{}}
			idx++
			local := &hba{device: "vmhba0", key: "key-vim.host.SerialAttachedHba-vmhba0", fabric: -1, bus: 24, pci: "0000:18:00.0",
				wwnn: int64(0x500056b300000000) | int64(ci)<<16 | int64(hi)<<4}
			h.hbas = append(h.hbas, local)
			fabrics, ok := wiring[name]
			if !ok {
				fabrics = []int{0, 1}
			}
			for i, f := range fabrics {
				dev := fmt.Sprintf("vmhba%d", 2+i)
				// one single-port Emulex card per fabric, each with its own names as Emulex burns
				// them in: WWPN 10:00:00:10:9b:<serial>, WWNN 20:00:00:10:9b:<same serial>
				serial := int64(ci&0xff)<<16 | int64(hi&0xff)<<8 | int64(0xa0+f)
				hb := &hba{
					device: dev, key: "key-vim.host.FibreChannelHba-" + dev, fabric: f,
					wwpn: int64(0x100000109b000000) | serial,
					wwnn: int64(0x200000109b000000) | serial,
					bus:  int32(59 + 36*i), pci: fmt.Sprintf("0000:%02x:00.0", 59+36*i),
					sw: s.fabric(f),
				}
				h.hbas = append(h.hbas, hb)
			}
			for _, hb := range h.hbas {
				h.hbaByName[hb.device] = hb
			}
			// each FC HBA reaches the ports of its fabric on every array; T numbers in that order
			for _, hb := range h.hbas[1:] {
				for _, a := range s.arrays {
					for _, tg := range a.targets {
						if tg.port == hb.fabric {
							hb.targets = append(hb.targets, tg)
						}
					}
				}
			}
			// the local disk
			serial := fmt.Sprintf("%08x", uint32(0x7c000000+h.index))
			ld := &lun{
				name:      "local-" + name,
				id:        0,
				canonical: fmt.Sprintf("naa.5000c50%09x", 0x0a0000000+h.index),
				capacity:  t.LocalCapacityGB << 30,
				local:     true,
				vendor:    "SEAGATE",
				model:     "ST300MM0048",
				serial:    serial,
				state:     lunOK,
				hosts:     []*host{h},
			}
			ld.uuid = scsiUUID(0, ld.canonical, ld.model)
			h.local = ld
			h.luns = append(h.luns, ld)
			ld.psp = pspFixed
			lp := &path{name: "vmhba0:C0:T0:L0", host: h, hba: local, lun: ld, base: stateActive, optimized: true}
			h.paths = append(h.paths, lp)
			h.lunPaths[ld] = []*path{lp}
			h.preferred[ld] = lp
			h.pathByName[lp.name] = lp
			s.hosts = append(s.hosts, h)
			s.hostByName[name] = h
			s.clusterHosts[c.Name] = append(s.clusterHosts[c.Name], h)
		}
	}
	// array LUNs and their paths
	for i := range t.Luns {
		spec := &t.Luns[i]
		a := arrays[spec.Array]
		l := &lun{
			spec: spec, name: spec.Name, array: a, id: spec.ID, capacity: spec.CapacityGB << 30,
			ssd: spec.SSD, vaai: spec.VAAI, owner: spec.Owner, vendor: a.spec.Vendor, model: a.spec.Model,
			state: lunOK, psp: spec.PathPolicy,
		}
		l.canonical = naaID(a, spec.ID)
		l.serial = fmt.Sprintf("%08X%016X", a.spec.Serial, uint64(0x5a0000+spec.ID))
		l.uuid = scsiUUID(spec.ID, l.canonical, l.model)
		s.luns = append(s.luns, l)
		s.lunByName[l.name] = l
		for _, h := range s.hosts {
			if !presented(spec, h) || !cabled(spec, h) {
				continue
			}
			l.hosts = append(l.hosts, h)
			h.luns = append(h.luns, l)
			for _, hb := range h.hbas[1:] {
				for ti, tg := range hb.targets {
					if tg.array != a || !onFabric(spec, tg.port) {
						continue
					}
					// the owning controller's target port group is active/optimized; the other is
					// active/non-optimized (asymmetric ALUA) or standby; a symmetric array has no owner
					owner := tg.ctl == l.owner || a.access == accessActive
					st := stateActive
					if !owner && a.access == accessALUAStandby {
						st = stateStandby
					}
					p := &path{
						name: fmt.Sprintf("%s:C0:T%d:L%d", hb.device, ti, l.id),
						host: h, hba: hb, target: tg, lun: l, tindex: ti, base: st, optimized: owner,
					}
					h.paths = append(h.paths, p)
					h.pathByName[p.name] = p
					h.lunPaths[l] = append(h.lunPaths[l], p)
					if h.preferred[l] == nil && owner {
						h.preferred[l] = p
					}
				}
			}
		}
	}
	// datastores
	for i := range t.Datastores {
		spec := &t.Datastores[i]
		d := &datastore{spec: spec, name: spec.Name, kind: spec.Type, replicaOf: spec.ReplicaOf}
		switch d.kind {
		case "VMFS":
			d.uuid = vmfsUUID(spec.Name)
			d.ssd, d.vaai = true, true
			var hosts map[*host]bool
			for _, e := range spec.Extents {
				l := s.lunByName[e]
				l.ds = d
				d.extents = append(d.extents, l)
				d.capacity += l.capacity
				d.ssd = d.ssd && l.ssd
				d.vaai = d.vaai && l.vaai
				// a VMFS volume is mounted where every extent is visible
				seen := map[*host]bool{}
				for _, h := range l.hosts {
					if hosts == nil || hosts[h] {
						seen[h] = true
					}
				}
				hosts = seen
			}
			for _, h := range s.hosts {
				if hosts[h] {
					d.hosts = append(d.hosts, h)
				}
			}
		case "NFS":
			h := hexHash("nfs", spec.Name)
			d.uuid = h[0:8] + "-" + h[8:16]
			d.capacity = spec.CapacityGB << 30
			d.remoteHost, d.remotePath = spec.RemoteHost, spec.RemotePath
			d.vaai = false
			for _, h := range s.hosts {
				if len(spec.Clusters) == 0 || contains(spec.Clusters, h.cluster) {
					d.hosts = append(d.hosts, h)
				}
			}
		}
		s.datastores = append(s.datastores, d)
		s.dsByName[d.name] = d
	}
	for _, d := range s.datastores {
		if d.replicaOf != "" {
			s.dsByName[d.replicaOf].replica = d.name
		}
	}
	if t.localDatastores() {
		for _, h := range s.hosts {
			d := &datastore{name: "local-" + h.name, kind: "VMFS", extents: []*lun{h.local}, hosts: []*host{h},
				uuid: vmfsUUID("local/" + h.name), capacity: h.local.capacity, localHost: h}
			h.local.ds = d
			s.datastores = append(s.datastores, d)
			s.dsByName[d.name] = d
		}
	}
	for _, d := range s.datastores {
		for _, h := range d.hosts {
			h.datastores = append(h.datastores, d)
		}
	}
	for _, h := range s.hosts {
		sort.SliceStable(h.datastores, func(i, j int) bool {
			return h.datastores[i].localHost != nil && h.datastores[j].localHost == nil
		})
	}
	s.adoptNVMe() // nvme.go
	return s, nil
}

// onFabric: the LUN is masked to the array ports of this fabric (every fabric unless the topology limits it).
func onFabric(spec *LunSpec, port int) bool {
	return len(spec.Fabrics) == 0 || contains(spec.Fabrics, fabricName(port))
}

// cabled: the host has an HBA on a fabric the LUN is presented through (else no path can reach it).
func cabled(spec *LunSpec, h *host) bool {
	for _, hb := range h.hbas {
		if hb.fabric >= 0 && onFabric(spec, hb.fabric) {
			return true
		}
	}
	return false
}

func presented(spec *LunSpec, h *host) bool {
	if len(spec.Clusters) == 0 && len(spec.Hosts) == 0 {
		return true
	}
	return contains(spec.Clusters, h.cluster) || contains(spec.Hosts, h.name)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
