package main

// ClusterComputeResource: the vSAN side of a SAN cluster, and GetResourceUsage.
//
// configurationEx.vsanConfigInfo says whether vSAN is on in the cluster; the simulator leaves it
// unset, which Ansible's vmware_cluster_info reads as an error. The lab's clusters store their VMs
// on FC and NFS, so vSAN is off: enabled false, defaultConfig.autoClaimStorage false (the hosts'
// side: host_vsan_system.go).
//
// GetResourceUsage (vSphere 6.0+, MethodNotFound in the simulator) answers the cluster's CPU and
// memory capacity and use (the sums of its connected hosts' summary.hardware and quickStats) and
// the capacity and use of the datastores its hosts mount, as the vSphere Client's cluster summary
// shows them.

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vcCallFixes["GetResourceUsage"] = vcHandleGetResourceUsage
}

// setClusterVsanOff records that vSAN is off in the cluster (inventory.go, at creation).
func setClusterVsanOff(cl *simulator.ClusterComputeResource) {
	if cfg, ok := cl.ConfigurationEx.(*types.ClusterConfigInfoEx); ok {
		cfg.VsanConfigInfo = &types.VsanClusterConfigInfo{Enabled: types.NewBool(false),
			DefaultConfig: &types.VsanClusterConfigInfoHostDefaultInfo{AutoClaimStorage: types.NewBool(false)}}
	}
}

func vcHandleGetResourceUsage(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	cl, ok := simulator.Map.Get(*ctx.Caller).(*simulator.ClusterComputeResource)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: *ctx.Caller}, "")
	}
	var usage types.ClusterResourceUsageSummary
	var hosts, datastores []types.ManagedObjectReference
	simulator.Map.WithLock(cl, func() {
		hosts = append(hosts, cl.Host...)
		datastores = append(datastores, cl.Datastore...)
	})
	for _, ref := range hosts {
		h, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
		if !ok || !vcConnected(h) || h.Summary.Hardware == nil {
			continue
		}
		hw := h.Summary.Hardware
		usage.CpuCapacityMHz += hw.CpuMhz * int32(hw.NumCpuCores)
		usage.MemCapacityMB += int32(hw.MemorySize >> 20)
		usage.CpuUsedMHz += h.Summary.QuickStats.OverallCpuUsage
		usage.MemUsedMB += h.Summary.QuickStats.OverallMemoryUsage
	}
	for _, ref := range datastores {
		ds, ok := simulator.Map.Get(ref).(*simulator.Datastore)
		if !ok {
			continue
		}
		usage.StorageCapacityMB += ds.Summary.Capacity >> 20
		usage.StorageUsedMB += (ds.Summary.Capacity - ds.Summary.FreeSpace) >> 20
	}
	return &methods.GetResourceUsageBody{Res: &types.GetResourceUsageResponse{Returnval: usage}}
}
