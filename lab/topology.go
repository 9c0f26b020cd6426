package main

// The topology file: what the SAN looks like (clusters, hosts, arrays, LUNs, datastores, VMs).
// See README.md ("The default topology") and topology.json, which is embedded as the default.

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

//go:embed topology.json
var defaultTopologyJSON []byte

// Topology is the JSON document.
type Topology struct {
	Datacenter string          `json:"datacenter"`
	Clusters   []ClusterSpec   `json:"clusters"`
	Arrays     []ArraySpec     `json:"arrays"`
	Luns       []LunSpec       `json:"luns"`
	Datastores []DatastoreSpec `json:"datastores"`
	VMs        []VMSpec        `json:"vms"`
	// LocalDatastores: every host gets a local disk on vmhba0 and a VMFS datastore "local-<host>".
	LocalDatastores *bool `json:"local_datastores,omitempty"`
	// LocalCapacityGB is the size of each host's local disk.
	LocalCapacityGB int64 `json:"local_capacity_gb,omitempty"`
	// Hosts wires hosts other than the default (an FC HBA on each fabric).
	Hosts []HostSpec `json:"hosts,omitempty"`
}

// HostSpec is how one host is cabled: one single-port FC HBA per fabric listed, named vmhba2, vmhba3, ...
// in that order (a host with one HBA on fabric B has vmhba2 on fabric B).
type HostSpec struct {
	Name    string   `json:"name"`
	Fabrics []string `json:"fabrics"` // "A" (the arrays' port 0), "B" (port 1)
}

// fabricIndex is the port number a fabric letter stands for ("A": port 0).
func fabricIndex(name string) (int, bool) {
	if len(name) != 1 || name[0] < 'A' || name[0] > 'B' {
		return 0, false
	}
	return int(name[0] - 'A'), true
}

// fabricName is the letter of a port number (0: "A").
func fabricName(port int) string {
	return string(rune('A' + port))
}

// ClusterSpec is one cluster and its hosts.
type ClusterSpec struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
	// vSphere HA's VM Component Protection (cluster_vmcp.go); nil: VMCP off, as a new HA cluster has it
	VMCP *VMCPSpec `json:"vmcp,omitempty"`
}

// ArraySpec is one storage array: controllers x ports, every port on fabric A (port 0, vmhba2) or
// fabric B (port 1, vmhba3).
type ArraySpec struct {
	Name        string `json:"name"`
	Vendor      string `json:"vendor"`
	Model       string `json:"model"`
	Serial      uint32 `json:"serial"` // goes into the naa ids and WWNs of the array
	Controllers int    `json:"controllers"`
	Ports       int    `json:"ports_per_controller"`
	// Access is how the array presents a LUN on its controllers' ports (san.go): "alua" (asymmetric:
	// the owning controller's ports active/optimized, the others active/non-optimized), "alua_standby"
	// (the others ALUA standby) or "active_active" (symmetric, every port optimized); an NVMe array:
	// "ana" (asymmetric namespace access: the owning controller optimized, the other non-optimized).
	Access string `json:"access,omitempty"`
	// Protocol is "scsi" (default) or "nvme": NVMe over FC namespaces, claimed by HPP (nvme.go).
	Protocol string `json:"protocol,omitempty"`
}

// Array access modes, and the storage array type plug-in (SATP) ESXi claims each with.
const (
	accessALUA        = "alua"
	accessALUAStandby = "alua_standby"
	accessActive      = "active_active"
)

// Path selection policies (PSP) of ESXi's native multipathing.
const (
	pspRR    = "VMW_PSP_RR"
	pspMRU   = "VMW_PSP_MRU"
	pspFixed = "VMW_PSP_FIXED"
)

// LunSpec is one array LUN.
type LunSpec struct {
	Name       string   `json:"name"`
	Array      string   `json:"array"`
	ID         int      `json:"id"`
	CapacityGB int64    `json:"capacity_gb"`
	SSD        bool     `json:"ssd"`
	VAAI       bool     `json:"vaai"`
	Owner      int      `json:"owner"`                 // ALUA owning controller index
	PathPolicy string   `json:"path_policy,omitempty"` // VMW_PSP_RR, _MRU, _FIXED (default: the SATP's)
	Clusters   []string `json:"clusters,omitempty"`    // presented only to these clusters (default: all)
	Hosts      []string `json:"hosts,omitempty"`       // ... or only to these hosts
	// Fabrics: masked to the array ports of these fabrics only ("A": port 0 of each controller, "B": port 1;
	// default both), so hosts reach it through their HBAs on those fabrics (a host with none there does not see it)
	Fabrics   []string `json:"fabrics,omitempty"`
	ReplicaOf string   `json:"replica_of,omitempty"`
}

// DatastoreSpec is one shared datastore (VMFS on LUN extents, or NFS).
type DatastoreSpec struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`              // VMFS or NFS
	Extents    []string `json:"extents,omitempty"` // VMFS: LUN names, in order
	RemoteHost string   `json:"remote_host,omitempty"`
	RemotePath string   `json:"remote_path,omitempty"`
	CapacityGB int64    `json:"capacity_gb,omitempty"` // NFS (VMFS: sum of the extents)
	Clusters   []string `json:"clusters,omitempty"`    // NFS: mounted by these clusters (default: all)
	ReplicaOf  string   `json:"replica_of,omitempty"`  // this datastore is the replica of that one
}

// VMSpec is one virtual machine.
type VMSpec struct {
	Name      string     `json:"name"`
	Cluster   string     `json:"cluster"`
	Host      string     `json:"host,omitempty"` // default: round robin in the cluster
	Home      string     `json:"home,omitempty"` // datastore of the VM folder (default: first disk's)
	GuestID   string     `json:"guest_id,omitempty"`
	Hardware  string     `json:"hardware_version,omitempty"` // "vmx-20"; default: virtual_machine_hardware.go
	PoweredOn *bool      `json:"powered_on,omitempty"`
	Disks     []DiskSpec `json:"disks"`
}

// DiskSpec is one virtual disk: a VMDK on a datastore, or a physical-mode RDM of a LUN.
type DiskSpec struct {
	Datastore  string `json:"datastore,omitempty"`
	RDM        string `json:"rdm,omitempty"` // LUN name
	SizeGB     int64  `json:"size_gb,omitempty"`
	Controller string `json:"controller"` // pvscsi or lsilogic
	Bus        int    `json:"bus"`
	Unit       int    `json:"unit"`
	Snapshots  int    `json:"snapshots,omitempty"` // delta disks on top of the base, in the VM home
}

func checkFabrics(what string, fabrics []string) error {
	if len(fabrics) == 0 {
		return fmt.Errorf("%s: fabrics must name at least one fabric (A or B)", what)
	}
	seen := map[string]bool{}
	for _, f := range fabrics {
		if _, ok := fabricIndex(f); !ok {
			return fmt.Errorf("%s: unknown fabric %q (A or B)", what, f)
		}
		if seen[f] {
			return fmt.Errorf("%s: fabric %q twice", what, f)
		}
		seen[f] = true
	}
	return nil
}

func loadTopology(path string) (*Topology, error) {
	data := defaultTopologyJSON
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		data = b
	}
	t := new(Topology)
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(t); err != nil {
		return nil, fmt.Errorf("topology %s: %v", orDefault(path), err)
	}
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("topology %s: %v", orDefault(path), err)
	}
	return t, nil
}

func orDefault(path string) string {
	if path == "" {
		return "(embedded topology.json)"
	}
	return path
}

func (t *Topology) localDatastores() bool {
	return t.LocalDatastores == nil || *t.LocalDatastores
}

func (t *Topology) validate() error {
	if t.Datacenter == "" {
		t.Datacenter = "dc1"
	}
	if t.LocalCapacityGB == 0 {
		t.LocalCapacityGB = 300
	}
	names := map[string]string{}
	unique := func(kind, name string) error {
		if name == "" {
			return fmt.Errorf("a %s without a name", kind)
		}
		key := kind + "/" + name
		if kind == "host" || kind == "cluster" {
			key = "compute/" + name
		}
		if _, ok := names[key]; ok {
			return fmt.Errorf("duplicate %s %q", kind, name)
		}
		names[key] = kind
		return nil
	}
	clusters := map[string]bool{}
	hosts := map[string]string{}
	for _, c := range t.Clusters {
		if err := unique("cluster", c.Name); err != nil {
			return err
		}
		clusters[c.Name] = true
		if len(c.Hosts) == 0 {
			return fmt.Errorf("cluster %q has no hosts", c.Name)
		}
		if c.VMCP != nil {
			if err := c.VMCP.validate(c.Name); err != nil {
				return err
			}
		}
		for _, h := range c.Hosts {
			if err := unique("host", h); err != nil {
				return err
			}
			hosts[h] = c.Name
		}
	}
	if len(hosts) == 0 {
		return fmt.Errorf("no hosts")
	}
	wired := map[string]bool{}
	for _, hs := range t.Hosts {
		if _, ok := hosts[hs.Name]; !ok {
			return fmt.Errorf("hosts: unknown host %q", hs.Name)
		}
		if wired[hs.Name] {
			return fmt.Errorf("hosts: %q wired twice", hs.Name)
		}
		wired[hs.Name] = true
		if err := checkFabrics("host "+hs.Name, hs.Fabrics); err != nil {
			return err
		}
	}
	arrays := map[string]*ArraySpec{}
	for i := range t.Arrays {
		a := &t.Arrays[i]
		if err := unique("array", a.Name); err != nil {
			return err
		}
		if a.Controllers <= 0 {
			a.Controllers = 2
		}
		if a.Ports <= 0 {
			a.Ports = 2
		}
		if a.Ports > 2 {
			return fmt.Errorf("array %q: at most 2 ports per controller (one per fabric)", a.Name)
		}
		if a.Vendor == "" {
			a.Vendor = "PURE"
		}
		if a.Model == "" {
			a.Model = "FlashArray"
		}
		if a.Serial == 0 {
			a.Serial = uint32(0xa0000 + i)
		}
		switch a.Protocol {
		case "", "scsi":
			a.Protocol = "scsi"
			switch a.Access {
			case "":
				a.Access = accessALUA
			case accessALUA, accessALUAStandby, accessActive:
			default:
				return fmt.Errorf("array %q: access must be %s, %s or %s", a.Name, accessALUA, accessALUAStandby, accessActive)
			}
		case protocolNVMe:
			if a.Access == "" {
				a.Access = accessANA
			}
			if a.Access != accessANA {
				return fmt.Errorf("array %q: an NVMe array's access is %s", a.Name, accessANA)
			}
		default:
			return fmt.Errorf("array %q: protocol must be scsi or %s", a.Name, protocolNVMe)
		}
		arrays[a.Name] = a
	}
	luns := map[string]*LunSpec{}
	ids := map[string]bool{}
	for i := range t.Luns {
		l := &t.Luns[i]
		if err := unique("lun", l.Name); err != nil {
			return err
		}
		a, ok := arrays[l.Array]
		if !ok {
			return fmt.Errorf("lun %q: unknown array %q", l.Name, l.Array)
		}
		if l.ID <= 0 || l.ID > 16383 {
			return fmt.Errorf("lun %q: id must be 1..16383", l.Name)
		}
		k := fmt.Sprintf("%s/%d", l.Array, l.ID)
		if ids[k] {
			return fmt.Errorf("lun %q: id %d already used on array %s", l.Name, l.ID, l.Array)
		}
		ids[k] = true
		if l.Owner < 0 || l.Owner >= a.Controllers {
			return fmt.Errorf("lun %q: owner controller %d out of range", l.Name, l.Owner)
		}
		if l.CapacityGB <= 0 {
			l.CapacityGB = 512
		}
		switch l.PathPolicy {
		case "":
			// ESXi's default PSP of the SATP that claims the LUN: MRU for VMW_SATP_ALUA, Fixed for
			// VMW_SATP_DEFAULT_AA (vendors' claim rules often set Round Robin instead)
			l.PathPolicy = pspMRU
			if a.Access == accessActive {
				l.PathPolicy = pspFixed
			}
		case pspRR, pspMRU, pspFixed:
		default:
			return fmt.Errorf("lun %q: path_policy must be %s, %s or %s", l.Name, pspRR, pspMRU, pspFixed)
		}
		if a.Protocol == protocolNVMe && l.PathPolicy != pspRR {
			l.PathPolicy = pspRR // HPP, not NMP: load-balanced over the optimized paths (nvme.go)
		}
		for _, c := range l.Clusters {
			if !clusters[c] {
				return fmt.Errorf("lun %q: unknown cluster %q", l.Name, c)
			}
		}
		for _, h := range l.Hosts {
			if _, ok := hosts[h]; !ok {
				return fmt.Errorf("lun %q: unknown host %q", l.Name, h)
			}
		}
		if len(l.Fabrics) > 0 {
			if err := checkFabrics("lun "+l.Name, l.Fabrics); err != nil {
				return err
			}
		}
		luns[l.Name] = l
	}
	for _, l := range t.Luns {
		if l.ReplicaOf != "" && luns[l.ReplicaOf] == nil {
			return fmt.Errorf("lun %q: replica of unknown lun %q", l.Name, l.ReplicaOf)
		}
	}
	used := map[string]string{}
	dss := map[string]*DatastoreSpec{}
	for i := range t.Datastores {
		d := &t.Datastores[i]
		if err := unique("datastore", d.Name); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name, "local-") && t.localDatastores() {
			return fmt.Errorf("datastore %q: the local- prefix is reserved for host local datastores", d.Name)
		}
		d.Type = strings.ToUpper(d.Type)
		switch d.Type {
		case "VMFS":
			if len(d.Extents) == 0 {
				return fmt.Errorf("datastore %q: VMFS needs at least one extent", d.Name)
			}
			for _, e := range d.Extents {
				if luns[e] == nil {
					return fmt.Errorf("datastore %q: unknown extent lun %q", d.Name, e)
				}
				if other, ok := used[e]; ok {
					return fmt.Errorf("datastore %q: lun %q already used by %q", d.Name, e, other)
				}
				used[e] = d.Name
			}
		case "NFS":
			if d.RemoteHost == "" {
				d.RemoteHost = "nas01.lab.local"
			}
			if d.RemotePath == "" {
				d.RemotePath = "/export/" + d.Name
			}
			if d.CapacityGB <= 0 {
				d.CapacityGB = 2048
			}
			for _, c := range d.Clusters {
				if !clusters[c] {
					return fmt.Errorf("datastore %q: unknown cluster %q", d.Name, c)
				}
			}
		default:
			return fmt.Errorf("datastore %q: type must be VMFS or NFS", d.Name)
		}
		dss[d.Name] = d
	}
	for _, d := range t.Datastores {
		if d.ReplicaOf != "" && dss[d.ReplicaOf] == nil {
			return fmt.Errorf("datastore %q: replica of unknown datastore %q", d.Name, d.ReplicaOf)
		}
	}
	for i := range t.VMs {
		v := &t.VMs[i]
		if err := unique("vm", v.Name); err != nil {
			return err
		}
		if !clusters[v.Cluster] {
			return fmt.Errorf("vm %q: unknown cluster %q", v.Name, v.Cluster)
		}
		if v.Host != "" && hosts[v.Host] != v.Cluster {
			return fmt.Errorf("vm %q: host %q is not in cluster %q", v.Name, v.Host, v.Cluster)
		}
		if err := vcValidHardwareVersion(v.Hardware); err != nil {
			return fmt.Errorf("vm %q: %v", v.Name, err)
		}
		if len(v.Disks) == 0 {
			return fmt.Errorf("vm %q has no disks", v.Name)
		}
		slots := map[string]bool{}
		for j := range v.Disks {
			d := &v.Disks[j]
			switch {
			case d.RDM != "" && d.Datastore != "":
				return fmt.Errorf("vm %q disk %d: either datastore or rdm", v.Name, j)
			case d.RDM != "":
				if luns[d.RDM] == nil {
					return fmt.Errorf("vm %q disk %d: unknown rdm lun %q", v.Name, j, d.RDM)
				}
				if other, ok := used[d.RDM]; ok {
					return fmt.Errorf("vm %q: rdm lun %q already used by %q", v.Name, d.RDM, other)
				}
				if d.Snapshots > 0 {
					return fmt.Errorf("vm %q disk %d: a physical RDM has no snapshots", v.Name, j)
				}
			case d.Datastore == "":
				return fmt.Errorf("vm %q disk %d: no datastore", v.Name, j)
			case dss[d.Datastore] == nil && !(strings.HasPrefix(d.Datastore, "local-") && hosts[strings.TrimPrefix(d.Datastore, "local-")] != ""):
				return fmt.Errorf("vm %q disk %d: unknown datastore %q", v.Name, j, d.Datastore)
			}
			if d.SizeGB <= 0 {
				d.SizeGB = 16
			}
			switch d.Controller {
			case "":
				d.Controller = "pvscsi"
			case "pvscsi", "lsilogic":
			default:
				return fmt.Errorf("vm %q disk %d: controller must be pvscsi or lsilogic", v.Name, j)
			}
			if d.Bus < 0 || d.Bus > 3 || d.Unit < 0 || d.Unit > 15 || d.Unit == 7 {
				return fmt.Errorf("vm %q disk %d: bus 0..3, unit 0..15 except 7", v.Name, j)
			}
			slot := fmt.Sprintf("%d:%d", d.Bus, d.Unit)
			if slots[slot] {
				return fmt.Errorf("vm %q: two disks on scsi%s", v.Name, slot)
			}
			slots[slot] = true
		}
		for j := range v.Disks {
			for k := range v.Disks {
				if v.Disks[j].Bus == v.Disks[k].Bus && v.Disks[j].Controller != v.Disks[k].Controller {
					return fmt.Errorf("vm %q: bus %d has two controller types", v.Name, v.Disks[j].Bus)
				}
			}
		}
		if v.Home == "" {
			for _, d := range v.Disks {
				if d.Datastore != "" {
					v.Home = d.Datastore
					break
				}
			}
			if v.Home == "" {
				return fmt.Errorf("vm %q: no home datastore (all disks are RDMs): set home", v.Name)
			}
		}
	}
	for _, v := range t.VMs {
		for _, d := range v.Disks {
			if d.RDM != "" {
				used[d.RDM] = v.Name
			}
		}
	}
	return nil
}
