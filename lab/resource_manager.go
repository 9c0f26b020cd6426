package main

// vCenter's resource manager: how many migrations and other operations run at once.
//
// vCenter gives each operation a cost on every resource it uses and each resource a maximum; an
// operation that would exceed one waits, queued, until others finish ("Limits on Simultaneous
// Migrations", vCenter Server and Host Management guide; Broadcom KB 326281 "Resource Manager
// Settings for Managing Migrations", the vpxd.ResourceManager.* defaults for ESXi 6.0 and later):
//
//	resource                   max   vMotion   Storage vMotion   both (XvMotion)   cold migration
//	host (source, destination)  16      2            8                  8                2
//	vMotion NIC of each host     8      1            -                  1                -
//	  (4 on 1 GbE; the lab's hosts have 25 GbE)
//	datastore                  128      1           16                 16               16 if files move
//
// so a host runs 8 vMotions or 2 Storage vMotions at once, a datastore 128 vMotions or 8 Storage
// vMotions. Overall vCenter runs about 640 operations at once before it queues more (VMware
// performance blog "vCenter Limits for Tasks Running at the Same Time", 2021). A reconfigure has no
// resource cost in these tables; it counts against the 640, and vCenter runs one operation at a
// time on a VM (the lab queues the next one; a second migration of a VM is refused with
// TaskInProgress, task_manager.go). The limits are in the timing configuration (task_timing.go):
// max_concurrent_operations, host_max_cost, network_max_cost, datastore_max_cost.
//
// Only with timing on: a lab without timing runs every task at once, as before.

import (
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type vcLimits struct {
	MaxOperations    int `json:"max_concurrent_operations"`
	HostMaxCost      int `json:"host_max_cost"`
	NetworkMaxCost   int `json:"network_max_cost"`
	DatastoreMaxCost int `json:"datastore_max_cost"`
}

var vcDefaultLimits = vcLimits{MaxOperations: 640, HostMaxCost: 16, NetworkMaxCost: 8, DatastoreMaxCost: 128}

// per-operation costs (KB 326281, ESXi 6.0 and later)
const (
	costHostVMotion    = 2
	costHostSVMotion   = 8
	costHostCold       = 2
	costNetworkVMotion = 1
	costDSVMotion      = 1
	costDSSVMotion     = 16
)

func (l vcLimits) validate() error {
	for name, v := range map[string]int{"max_concurrent_operations": l.MaxOperations, "host_max_cost": l.HostMaxCost,
		"network_max_cost": l.NetworkMaxCost, "datastore_max_cost": l.DatastoreMaxCost} {
		if v < 1 || v > 100000 {
			return badRequest("'%s' must be between 1 and 100000", name)
		}
	}
	return nil
}

// vcCost is what an operation holds while it runs: resource -> cost. Resources are "host/<moref>",
// "nic/<host moref>" (its vMotion NIC), "ds/<moref>" and "vm/<moref>" (one operation per VM).
type vcCost map[string]int

func (c vcCost) add(kind string, ref types.ManagedObjectReference, n int) {
	c[kind+"/"+ref.Value] += n
}

var vcRM = struct {
	sync.Mutex
	cond    *sync.Cond
	used    map[string]int
	running int
	queued  int
}{used: map[string]int{}}

func init() { vcRM.cond = sync.NewCond(&vcRM.Mutex) }

func (l vcLimits) limit(resource string) int {
	switch kind := resource[:strings.IndexByte(resource, '/')]; kind {
	case "host":
		return l.HostMaxCost
	case "nic":
		return l.NetworkMaxCost
	case "ds":
		return l.DatastoreMaxCost
	}
	return 1 // "vm": one operation at a time
}

// fits: whether c can start now. A resource nobody uses admits any cost (an operation costlier
// than a lowered limit still runs, alone). The caller holds vcRM.
func (c vcCost) fits(l vcLimits) bool {
	if vcRM.running >= l.MaxOperations {
		return false
	}
	for r, n := range c {
		if used := vcRM.used[r]; used > 0 && used+n > l.limit(r) {
			return false
		}
	}
	return true
}

// vcAcquire waits until c is admitted (true) or cancel is closed first (false).
func vcAcquire(c vcCost, cancel <-chan struct{}) bool {
	vcRM.Lock()
	defer vcRM.Unlock()
	vcRM.queued++
	defer func() { vcRM.queued-- }()
	for !c.fits(vcCurrentTiming().vcLimits) {
		select {
		case <-cancel:
			return false
		default:
		}
		vcRM.cond.Wait()
	}
	select {
	case <-cancel:
		return false
	default:
	}
	for r, n := range c {
		vcRM.used[r] += n
	}
	vcRM.running++
	return true
}

func vcRelease(c vcCost) {
	vcRM.Lock()
	for r, n := range c {
		if vcRM.used[r] -= n; vcRM.used[r] <= 0 {
			delete(vcRM.used, r)
		}
	}
	vcRM.running--
	vcRM.Unlock()
	vcRM.cond.Broadcast()
}

// vcResourcesChanged wakes the queue: limits changed, or a queued task was canceled.
func vcResourcesChanged() {
	vcRM.Lock()
	vcRM.Unlock()
	vcRM.cond.Broadcast()
}

func vcResourceStatus() (queued, running int) {
	vcRM.Lock()
	defer vcRM.Unlock()
	return vcRM.queued, vcRM.running
}

// vcMigrationCost is what moving vm as p costs, and whether its files move (a Storage vMotion:
// svmotion_ms). The caller holds the VM's lock.
func vcMigrationCost(vm *simulator.VirtualMachine, p *vcPlacement) (vcCost, bool) {
	c := vcCost{}
	c.add("vm", vm.Self, 1)
	src := *vm.Runtime.Host
	dst := p.host.Self
	hostMoves := src != dst
	final := vcFinalDatastores(vm, p)
	var moved []types.ManagedObjectReference
	for _, ref := range final {
		if simulator.FindReference(vm.Datastore, ref) == nil {
			moved = append(moved, ref)
		}
	}
	storage := len(moved) > 0
	if storage { // the files are read where they are and written to the new datastores
		for _, ref := range vm.Datastore {
			if simulator.FindReference(moved, ref) == nil {
				moved = append(moved, ref)
			}
		}
	}
	hosts := []types.ManagedObjectReference{src}
	if hostMoves {
		hosts = append(hosts, dst)
	}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		for _, h := range hosts {
			c.add("host", h, costHostCold)
		}
		for _, ds := range moved {
			c.add("ds", ds, costDSSVMotion)
		}
		return c, storage
	}
	hostCost := costHostVMotion
	if storage {
		hostCost = costHostSVMotion
	}
	for _, h := range hosts {
		c.add("host", h, hostCost)
		if hostMoves {
			c.add("nic", h, costNetworkVMotion)
		}
	}
	if storage {
		for _, ds := range moved {
			c.add("ds", ds, costDSSVMotion)
		}
	} else {
		for _, ds := range vm.Datastore {
			c.add("ds", ds, costDSVMotion)
		}
	}
	return c, storage
}
