package main

// vSphere HA's VM Component Protection (VMCP) settings of a cluster, where vCenter keeps them:
// configurationEx.dasConfig.vmComponentProtecting ("enabled"/"disabled") and
// configurationEx.dasConfig.defaultVmSettings.vmComponentProtectionSettings (API reference,
// ClusterDasConfigInfo, ClusterDasVmSettings, ClusterVmComponentProtectionSettings; vSphere Availability,
// "VM Component Protection"):
//   - vmStorageProtectionForPDL: disabled, warning, restartAggressive (power the VM off at once and restart
//     it on a host that reaches its storage);
//   - vmStorageProtectionForAPD: disabled, warning, restartConservative (only when capacity to restart it is
//     known), restartAggressive; it acts once the host's APD timeout (Misc.APDTimeout, 140 s) passed and
//     then vmTerminateDelayForAPDSec more (180 s by default);
//   - vmReactionOnAPDCleared: none or reset (the VM, if still running when the APD clears after the timeout).
// The cluster default for both protections is "disabled", with VMCP itself disabled; the topology's
// "vmcp" of a cluster turns it on with its settings. The simulator's clusters have none of it.

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// VMCPSpec is a cluster's VMCP in the topology.
type VMCPSpec struct {
	PDL             string `json:"pdl"`               // disabled, warning, restartAggressive
	APD             string `json:"apd"`               // disabled, warning, restartConservative, restartAggressive
	TerminateDelayS int32  `json:"terminate_delay_s"` // vmTerminateDelayForAPDSec (0: the default, 180)
	OnAPDCleared    string `json:"on_apd_cleared"`    // none (default), reset
}

func (v *VMCPSpec) validate(cluster string) error {
	switch v.PDL {
	case "disabled", "warning", "restartAggressive":
	default:
		return fmt.Errorf("cluster %q: vmcp.pdl must be disabled, warning or restartAggressive", cluster)
	}
	switch v.APD {
	case "disabled", "warning", "restartConservative", "restartAggressive":
	default:
		return fmt.Errorf("cluster %q: vmcp.apd must be disabled, warning, restartConservative or restartAggressive", cluster)
	}
	if v.TerminateDelayS == 0 {
		v.TerminateDelayS = 180
	}
	if v.TerminateDelayS < 0 {
		return fmt.Errorf("cluster %q: vmcp.terminate_delay_s must be positive", cluster)
	}
	switch v.OnAPDCleared {
	case "":
		v.OnAPDCleared = "none"
	case "none", "reset":
	default:
		return fmt.Errorf("cluster %q: vmcp.on_apd_cleared must be none or reset", cluster)
	}
	return nil
}

// setClusterVMCP writes a cluster's HA VM Component Protection into its configurationEx.dasConfig.
func setClusterVMCP(cl *simulator.ClusterComputeResource, spec *VMCPSpec) {
	das := &cl.ConfigurationEx.(*types.ClusterConfigInfoEx).DasConfig
	das.VmComponentProtecting = "disabled"
	settings := &types.ClusterVmComponentProtectionSettings{
		VmStorageProtectionForAPD: "disabled", VmStorageProtectionForPDL: "disabled",
		VmTerminateDelayForAPDSec: 180, VmReactionOnAPDCleared: "none",
	}
	if spec != nil {
		das.VmComponentProtecting = "enabled"
		settings = &types.ClusterVmComponentProtectionSettings{
			VmStorageProtectionForAPD: spec.APD, VmStorageProtectionForPDL: spec.PDL,
			VmTerminateDelayForAPDSec: spec.TerminateDelayS, VmReactionOnAPDCleared: spec.OnAPDCleared,
		}
	}
	if das.DefaultVmSettings == nil {
		das.DefaultVmSettings = &types.ClusterDasVmSettings{RestartPriority: "medium", IsolationResponse: "none"}
	}
	if das.DefaultVmSettings.VmToolsMonitoringSettings == nil {
		// a cluster's default VM settings always carry VM monitoring's, off with the API's defaults
		// (ClusterVmToolsMonitoringSettings: failureInterval 30 s, minUpTime 120 s, maxFailures 3,
		// maxFailureWindow 1 h); clients read them whenever defaultVmSettings is set (community.vmware's
		// vmware_cluster_info)
		no, yes := false, true
		das.DefaultVmSettings.VmToolsMonitoringSettings = &types.ClusterVmToolsMonitoringSettings{
			Enabled: &no, VmMonitoring: string(types.ClusterDasConfigInfoVmMonitoringStateVmMonitoringDisabled),
			ClusterSettings: &yes, FailureInterval: 30, MinUpTime: 120, MaxFailures: 3, MaxFailureWindow: 3600,
		}
	}
	das.DefaultVmSettings.VmComponentProtectionSettings = settings
}

// clusterVMCP is the topology's VMCP of a cluster (nil: off).
func (s *san) clusterVMCP(name string) *VMCPSpec {
	for i := range s.topo.Clusters {
		if s.topo.Clusters[i].Name == name {
			return s.topo.Clusters[i].VMCP
		}
	}
	return nil
}
