package main

// Building the simulator inventory from the SAN model: datacenter, clusters, hosts (each with its
// own storage system), datastores mounted by exactly the hosts that see them, and VMs.
//
// We build the objects directly instead of through simulator.Model.Create: the generic path gives
// every host one shared storage struct and every datastore only its last host.

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type hostInventory struct {
	ref     types.ManagedObjectReference
	mo      *simulator.HostSystem
	ss      *labStorageSystem
	options *labOptionManager
	cluster *simulator.ClusterComputeResource
	ssSeq   uint64 // last render published on ss (guarded by the ss object lock)
}

type dsInventory struct {
	ref    types.ManagedObjectReference
	mo     *simulator.Datastore
	volume types.BaseHostFileSystemVolume
	dir    string
}

func newInternalContext() *simulator.Context {
	return &simulator.Context{
		Context: context.Background(),
		Session: &simulator.Session{
			UserSession: types.UserSession{Key: uuid.New().String(), UserName: "vsgt-lab"},
			Registry:    simulator.NewRegistry(),
		},
		Map: simulator.Map,
	}
}

// buildInventory creates the simulator service and every inventory object.
func (l *Lab) buildInventory() error {
	s := l.san
	vcLab = l
	m := simulator.VPX()
	m.Datacenter, m.Portgroup, m.Host, m.Cluster, m.ClusterHost, m.Datastore, m.Machine = 0, 0, 0, 0, 0, 0, 0
	m.Autostart = false
	if err := m.Create(); err != nil {
		return err
	}
	l.model = m
	ctx := newInternalContext()
	l.ctx = ctx
	reg := simulator.Map

	root := reg.Get(m.ServiceContent.RootFolder).(*simulator.Folder)
	dc := simulator.NewDatacenter(ctx, &root.Folder)
	dc.Name = s.topo.Datacenter
	l.dc = dc
	hostFolder := reg.Get(dc.HostFolder).(*simulator.Folder)
	dsFolder := reg.Get(dc.DatastoreFolder).(*simulator.Folder)
	l.vmFolder = reg.Get(dc.VmFolder).(*simulator.Folder)

	// clusters and hosts
	clusters := map[string]*simulator.ClusterComputeResource{}
	for _, name := range s.clusterOrder {
		cl, fault := simulator.CreateClusterComputeResource(ctx, hostFolder, name, types.ClusterConfigSpecEx{})
		if fault != nil {
			return fmt.Errorf("cluster %s: %T", name, fault)
		}
		// vSphere HA/DRS clusters as admins run them
		cl.ConfigurationEx.(*types.ClusterConfigInfoEx).DasConfig.Enabled = types.NewBool(true)
		setClusterVsanOff(cl) // cluster_compute_resource_usage.go
		clusters[name] = cl
	}
	t0 := time.Now()
	for _, h := range s.hosts {
		l.newHost(clusters[h.cluster], h)
	}
	log.Printf("hosts %.1fs", time.Since(t0).Seconds())

	// datastores: shared ones first, so the simulator's linear lookups by name stay short
	dss := append([]*datastore(nil), s.datastores...)
	sort.SliceStable(dss, func(i, j int) bool { return dss[i].localHost == nil && dss[j].localHost != nil })
	for _, d := range dss {
		if err := l.newDatastore(dc, dsFolder, d); err != nil {
			return err
		}
	}
	for _, h := range s.hosts {
		refs := make([]types.ManagedObjectReference, 0, len(h.datastores))
		for _, d := range h.datastores {
			refs = append(refs, d.inv.ref)
		}
		h.inv.mo.Datastore = refs
		h.inv.mo.DatastoreBrowser = newHostDatastoreBrowser(h.inv.mo) // host_datastore_browser.go
		dss := reg.Get(*h.inv.mo.ConfigManager.DatastoreSystem).(*simulator.HostDatastoreSystem)
		dss.Datastore = refs
		cl := h.inv.cluster
		for _, ref := range refs {
			if simulator.FindReference(cl.Datastore, ref) == nil {
				cl.Datastore = append(cl.Datastore, ref)
			}
		}
	}

	// initial storage state of every host and datastore
	s.mu.Lock()
	hrs := make([]*hostRender, len(s.hosts))
	for i, h := range s.hosts {
		hrs[i] = s.renderHost(h)
		h.view = hrs[i].view // what the host's storage events compare with (storage_events.go)
	}
	drs := make([]*dsRender, len(s.datastores))
	for i, d := range s.datastores {
		drs[i] = s.renderDatastore(d)
	}
	s.mu.Unlock()
	for i, h := range s.hosts {
		l.publishHost(nil, h, hrs[i], false)
	}
	for i, d := range s.datastores {
		l.publishDatastore(nil, d, drs[i], false)
	}

	log.Printf("datastores+render %.1fs", time.Since(t0).Seconds())
	// VMs: in topology order for a small lab (stable morefs), on every core for a big one
	vms := s.topo.VMs
	s.vms = make([]*vmInfo, len(vms))
	workers := 1
	if len(vms) > 200 && !l.sequential {
		workers = runtime.NumCPU() // morefs then depend on the workers' interleaving
	}
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(vms); i += workers {
				v, err := l.newVM(&vms[i], i)
				if err != nil {
					errs <- fmt.Errorf("vm %s: %v", vms[i].Name, err)
					return
				}
				s.vms[i] = v
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	log.Printf("vms %.1fs", time.Since(t0).Seconds())
	for _, v := range s.vms {
		v.host.vms = append(v.host.vms, v)
	}
	// datastore.vm from vm.datastore (what vCenter keeps consistent)
	dsVMs := map[*simulator.Datastore]map[types.ManagedObjectReference]bool{}
	for _, v := range s.vms {
		vm := reg.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: v.moref}).(*simulator.VirtualMachine)
		for _, ref := range vm.Datastore {
			ds := reg.Get(ref).(*simulator.Datastore)
			set := dsVMs[ds]
			if set == nil {
				set = map[types.ManagedObjectReference]bool{}
				for _, x := range ds.Vm {
					set[x] = true
				}
				dsVMs[ds] = set
			}
			if !set[vm.Self] {
				set[vm.Self] = true
				ds.Vm = append(ds.Vm, vm.Self)
			}
		}
	}
	// the datastores' free space after the VMs' files (virtual_machine_layout.go)
	all := make([]types.ManagedObjectReference, 0, len(s.datastores))
	for _, d := range s.datastores {
		all = append(all, d.inv.ref)
	}
	vcRefreshDatastoreUsage(all, nil)
	return nil
}

// hostConfigTemplate is the simulator's ESXi host config, deep-copied once. simulator.NewHostSystem
// deep-copies it per host through XML (5 ms a host); we copy the parts a host may change.
var hostConfigTemplate *types.HostConfigInfo

func newHostSystem() *simulator.HostSystem {
	reg := simulator.Map
	if hostConfigTemplate == nil {
		hostConfigTemplate = simulator.NewHostSystem(esx.HostSystem).Config // its own deep copy
		hostConfigTemplate.StorageDevice = nil
	}
	now := time.Now()
	hs := &simulator.HostSystem{HostSystem: esx.HostSystem}
	hs.Summary.Runtime = &hs.Runtime
	hs.Summary.Runtime.BootTime = &now
	hardware := *esx.HostSystem.Summary.Hardware
	hs.Summary.Hardware = &hardware
	info := *esx.HostHardwareInfo
	hs.Hardware = &info
	cfg := *hostConfigTemplate
	network := *hostConfigTemplate.Network
	network.Vswitch = append([]types.HostVirtualSwitch(nil), network.Vswitch...)
	network.Portgroup = append([]types.HostPortGroup(nil), network.Portgroup...)
	network.Vnic = append([]types.HostVirtualNic(nil), network.Vnic...)
	network.Pnic = append([]types.PhysicalNic(nil), network.Pnic...)
	cfg.Network = &network
	hs.Config = &cfg
	put := func(obj interface {
		Reference() types.ManagedObjectReference
	}) *types.ManagedObjectReference {
		ref := reg.Put(obj.(mo.Reference)).Reference()
		return &ref
	}
	hs.ConfigManager.DatastoreSystem = put(&simulator.HostDatastoreSystem{Host: &hs.HostSystem})
	hs.ConfigManager.NetworkSystem = put(simulator.NewHostNetworkSystem(&hs.HostSystem))
	hs.ConfigManager.FirewallSystem = put(simulator.NewHostFirewallSystem(&hs.HostSystem))
	return hs
}

func (l *Lab) newHost(cl *simulator.ClusterComputeResource, h *host) {
	reg := simulator.Map
	hs := newHostSystem()
	hs.Runtime.ConnectionState = types.HostSystemConnectionStateConnected
	hs.Summary.Config.Name = h.name
	hs.Name = h.name
	id := uuid.NewSHA1(uuid.NameSpaceOID, []byte("host/"+h.name)).String()
	hs.Summary.Hardware.Uuid = id
	hs.Hardware.SystemInfo.Uuid = id
	setHostHardware(hs, h) // host_system_hardware.go
	reg.PutEntity(cl, reg.NewEntity(hs))
	hs.Summary.Host = &hs.Self
	hs.Config.Host = hs.Self
	hs.Network = cl.Network[:1]
	l.newHostManagers(hs, h) // host_config_manager.go
	cl.Host = append(cl.Host, hs.Self)
	sum := cl.Summary.GetComputeResourceSummary()
	hw := hs.Summary.Hardware
	sum.TotalCpu += hw.CpuMhz * int32(hw.NumCpuCores)
	sum.TotalMemory += hw.MemorySize
	sum.NumCpuCores += hw.NumCpuCores
	sum.NumCpuThreads += hw.NumCpuThreads
	// what is left for VMs once ESXi took its share (vCenter's effective resources)
	sum.EffectiveCpu += hw.CpuMhz * int32(hw.NumCpuCores) * 97 / 100
	sum.EffectiveMemory += hw.MemorySize >> 20 * 96 / 100
	sum.NumHosts++
	sum.NumEffectiveHosts++
	sum.OverallStatus = types.ManagedEntityStatusGreen

	// Our own HostStorageSystem: per-host storage, multipath methods.
	ss := &labStorageSystem{HostStorageSystem: simulator.HostStorageSystem{Host: &hs.HostSystem}, lab: l, h: h}
	ss.Self.Type = "HostStorageSystem"
	ref := reg.Put(ss).Reference()
	hs.ConfigManager.StorageSystem = &ref
	// its own OptionManager: the host's advanced settings (option_manager.go)
	om := newHostOptionManager(l, h)
	omRef := reg.Put(om).Reference()
	hs.ConfigManager.AdvancedOption = &omRef
	h.inv = &hostInventory{ref: hs.Self, mo: hs, ss: ss, options: om, cluster: cl}
}

// datastoreURL is a datastore's url as vCenter reports it (summary.url, info.url): ESXi's
// ds:///vmfs/volumes/<volume uuid>/ for VMFS, ds:///vmfs/volumes/<volume id>/ for NFS (the id
// ESXi derives for the mount, two 8-digit hex groups). The simulator joins datastore paths onto
// info.url with path.Join, which turns this into the relative path ds:/vmfs/volumes/<uuid>/...:
// the lab runs in its temporary folder (main.go), so the files land in datastoreDir and no lab
// folder shows in anything a client reads.
func datastoreURL(d *datastore) string { return "ds://" + d.mountPath() + "/" }

// datastoreDir is where the datastore's files live on the lab's disk: its url resolved in the
// lab's folder.
func (l *Lab) datastoreDir(d *datastore) string {
	return filepath.Join(l.tmp, "ds:", d.mountPath())
}

func (l *Lab) newDatastore(dc *simulator.Datacenter, folder *simulator.Folder, d *datastore) error {
	reg := simulator.Map
	dir := l.datastoreDir(d)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	d.inv = &dsInventory{dir: dir}
	if d.kind == "NFS" {
		d.inv.volume = l.san.nasVolume(d)
	} else {
		d.inv.volume = l.san.vmfsVolume(d)
	}
	ds := &simulator.Datastore{}
	ds.Name = d.name
	ds.Info = l.san.datastoreInfo(d, datastoreURL(d), d.capacity)
	ds.Summary = types.DatastoreSummary{
		Name:               d.name,
		Url:                datastoreURL(d),
		Capacity:           d.capacity,
		FreeSpace:          d.capacity,
		Accessible:         true,
		MultipleHostAccess: types.NewBool(len(d.hosts) > 1),
		Type:               d.kind,
		MaintenanceMode:    string(types.DatastoreSummaryMaintenanceModeStateNormal),
	}
	ds.Capability = types.DatastoreCapability{
		DirectoryHierarchySupported:      true,
		RawDiskMappingsSupported:         d.kind == "VMFS",
		PerFileThinProvisioningSupported: true,
		StorageIORMSupported:             types.NewBool(true),
		NativeSnapshotSupported:          types.NewBool(false),
		TopLevelDirectoryCreateSupported: types.NewBool(true),
		SeSparseSupported:                types.NewBool(d.kind == "VMFS"),
		VmfsSparseSupported:              types.NewBool(d.kind == "VMFS"),
		VsanSparseSupported:              types.NewBool(false),
		UpitSupported:                    types.NewBool(false),
		VmdkExpandSupported:              types.NewBool(true),
	}
	reg.NewEntity(ds)
	ds.Summary.Datastore = &ds.Self
	folder.ChildEntity = append(folder.ChildEntity, ds.Self)
	reg.PutEntity(folder, ds)
	dc.Datastore = append(dc.Datastore, ds.Self)
	browser := &simulator.HostDatastoreBrowser{}
	browser.Datastore = []types.ManagedObjectReference{ds.Self}
	ds.Browser = reg.Put(browser).Reference()
	d.inv.ref = ds.Self
	d.inv.mo = ds
	return nil
}

func containsHost(list []*host, h *host) bool {
	for _, x := range list {
		if x == h {
			return true
		}
	}
	return false
}

var _ mo.Reference = (*labStorageSystem)(nil)
