package main

// HostVsanSystem (configManager.vsanSystem): vSAN on a host of a SAN cluster, i.e. vSAN off.
//
// The lab's clusters keep their VMs on FC arrays and NFS, not vSAN. Such a host reports
// config.enabled false (HostSystem.config.vsanHostConfig the same, hostSystem naming the host, as
// the simulator's ESXi recording has it), and QueryHostStatus answers the VsanHostClusterStatus
// of a node outside any vSAN cluster: no cluster uuid, the host's node uuid, health "unknown",
// nodeState "disabled" (API reference: VsanHostClusterStatus, VsanHostNodeState "the node is
// disabled for the VSAN service"). A host that is not connected fails it with HostNotConnected,
// which Ansible's vmware_host_facts reports as "NA". The cluster's side is
// ClusterComputeResource.configurationEx.vsanConfigInfo (cluster_compute_resource_usage.go).

import (
	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type labVsanSystem struct {
	mo.HostVsanSystem // first field: the simulator's PropertyCollector reads it

	host     *simulator.HostSystem
	nodeUUID string
}

func newHostVsanSystem(hs *simulator.HostSystem) *labVsanSystem {
	self := hs.Self
	cfg := types.VsanHostConfigInfo{
		Enabled:         types.NewBool(false),
		HostSystem:      &self,
		ClusterInfo:     &types.VsanHostConfigInfoClusterInfo{},
		StorageInfo:     &types.VsanHostConfigInfoStorageInfo{AutoClaimStorage: types.NewBool(false)},
		NetworkInfo:     &types.VsanHostConfigInfoNetworkInfo{},
		FaultDomainInfo: &types.VsanHostFaultDomainInfo{},
	}
	hs.Config.VsanHostConfig = &cfg
	s := &labVsanSystem{HostVsanSystem: mo.HostVsanSystem{Config: cfg}, host: hs,
		nodeUUID: uuid.NewSHA1(uuid.NameSpaceOID, []byte("vsan-node/"+hs.Name)).String()}
	s.Self = hostObjectRef(hs, "HostVsanSystem", "vsanSystem")
	return s
}

func (s *labVsanSystem) QueryHostStatus(ctx *simulator.Context, req *types.QueryHostStatus) soap.HasFault {
	if refused := hostManagerRefusal(s.host); refused != nil {
		return refused
	}
	return &methods.QueryHostStatusBody{Res: &types.QueryHostStatusResponse{Returnval: types.VsanHostClusterStatus{
		NodeUuid:  s.nodeUUID,
		Health:    string(types.VsanHostHealthStateUnknown),
		NodeState: types.VsanHostClusterStatusState{State: string(types.VsanHostNodeStateDisabled)},
	}}}
}
