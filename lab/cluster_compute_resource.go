package main

// ClusterComputeResource.ReconfigureComputeResource_Task for the settings Proactive HA needs: DRS
// (configurationEx.drsConfig) and Proactive HA itself (configurationEx.infraUpdateHaConfig). The
// 0.24.2 simulator applies rules, groups and VM overrides and ignores both. The lab, as vCenter
// (API reference, ClusterConfigSpecEx, ClusterInfraUpdateHaConfigInfo):
//   - modify=true changes only the properties the spec sets; modify=false makes the configuration
//     the spec, unset parts back to their defaults (DRS off, fullyAutomated, migration rate 3;
//     Proactive HA off, Manual, QuarantineMode for both);
//   - infraUpdateHaConfig: behavior Manual or Automated, remediations QuarantineMode or
//     MaintenanceMode, moderate MaintenanceMode with severe QuarantineMode "is not supported and
//     will throw InvalidArgument"; providers are provider ids (registered ones: InvalidArgument
//     otherwise), a list of one empty string clears it; Proactive HA is active only with DRS on
//     and at least one provider;
//   - drsConfig.defaultVmBehavior manual, partiallyAutomated or fullyAutomated, vmotionRate 1..5;
//   - the task is ReconfigureComputeResource_Task ("ClusterComputeResource.reconfigureEx"), the
//     change is published (configurationEx, configuration.drsConfig), a ClusterReconfiguredEvent
//     posted, Host.Inventory.EditCluster needed; the rest of the spec goes to the simulator.
// The cluster's configuration is vCenter's database: journaled, the last state per cluster:
//
//	{"t":"cluster_config","cluster":"cl-a","xml":"<x><drs>...</drs><infraUpdateHa>...</infraUpdateHa></x>"}

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

func init() {
	vcCallFixes["ReconfigureComputeResource_Task"] = vcHandleReconfigureCluster
	registerJournalLatest("cluster_config", func(e *journalEntry) string {
		var r struct {
			Cluster string `json:"cluster"`
		}
		_ = e.decode(&r)
		return r.Cluster
	}, replayClusterConfig)
}

type vcClusterConfigDoc struct {
	XMLName       xml.Name                              `xml:"x"`
	Drs           types.ClusterDrsConfigInfo            `xml:"drs"`
	InfraUpdateHa *types.ClusterInfraUpdateHaConfigInfo `xml:"infraUpdateHa,omitempty"`
}

func vcDefaultInfraUpdateHa() *types.ClusterInfraUpdateHaConfigInfo {
	return &types.ClusterInfraUpdateHaConfigInfo{Enabled: types.NewBool(false), Behavior: "Manual",
		ModerateRemediation: "QuarantineMode", SevereRemediation: "QuarantineMode"}
}

func vcDefaultDrs() types.ClusterDrsConfigInfo {
	return types.ClusterDrsConfigInfo{Enabled: types.NewBool(false), EnableVmBehaviorOverrides: types.NewBool(true),
		DefaultVmBehavior: types.DrsBehaviorFullyAutomated, VmotionRate: 3}
}

// vcClusterConfig returns a copy of a cluster's DRS and Proactive HA configuration.
func vcClusterConfig(ref types.ManagedObjectReference) (*simulator.ClusterComputeResource, types.ClusterDrsConfigInfo, types.ClusterInfraUpdateHaConfigInfo) {
	cl, ok := simulator.Map.Get(ref).(*simulator.ClusterComputeResource)
	if !ok {
		return nil, types.ClusterDrsConfigInfo{}, types.ClusterInfraUpdateHaConfigInfo{}
	}
	var drs types.ClusterDrsConfigInfo
	iuha := *vcDefaultInfraUpdateHa()
	simulator.Map.WithLock(cl, func() {
		if cfg, ok := cl.ConfigurationEx.(*types.ClusterConfigInfoEx); ok {
			drs = cfg.DrsConfig
			if cfg.InfraUpdateHaConfig != nil {
				iuha = *cfg.InfraUpdateHaConfig
				iuha.Providers = append([]string(nil), cfg.InfraUpdateHaConfig.Providers...)
			}
		}
	})
	return cl, drs, iuha
}

// vcInfraUpdateHaActive: Proactive HA acts on the cluster (enabled, DRS on, a provider listed).
func vcInfraUpdateHaActive(drs types.ClusterDrsConfigInfo, iuha types.ClusterInfraUpdateHaConfigInfo) bool {
	return drs.Enabled != nil && *drs.Enabled && iuha.Enabled != nil && *iuha.Enabled && len(iuha.Providers) > 0
}

// vcClusterUsingProvider names a cluster whose configuration lists the provider ("" if none);
// with enabledOnly, only a cluster where Proactive HA is enabled counts.
func vcClusterUsingProvider(id string, enabledOnly bool) string {
	for _, obj := range simulator.Map.All("ClusterComputeResource") {
		cl, ok := obj.(*simulator.ClusterComputeResource)
		if !ok {
			continue
		}
		_, _, iuha := vcClusterConfig(cl.Self)
		if vcContains(iuha.Providers, id) && (!enabledOnly || (iuha.Enabled != nil && *iuha.Enabled)) {
			return cl.Name
		}
	}
	return ""
}

// vcProviderEnabledOn: the cluster has Proactive HA enabled with the provider.
func vcProviderEnabledOn(ref types.ManagedObjectReference, id string) bool {
	cl, _, iuha := vcClusterConfig(ref)
	return cl != nil && iuha.Enabled != nil && *iuha.Enabled && vcContains(iuha.Providers, id)
}

// vcMergeClusterSpec applies the spec's drsConfig and infraUpdateHaConfig to the current ones.
func vcMergeClusterSpec(drs types.ClusterDrsConfigInfo, iuha types.ClusterInfraUpdateHaConfigInfo, spec *types.ClusterConfigSpecEx, modify bool) (types.ClusterDrsConfigInfo, types.ClusterInfraUpdateHaConfigInfo, *vcMoveFault) {
	if !modify {
		drs, iuha = vcDefaultDrs(), *vcDefaultInfraUpdateHa()
	}
	if d := spec.DrsConfig; d != nil {
		if d.Enabled != nil {
			drs.Enabled = types.NewBool(*d.Enabled)
		}
		if d.EnableVmBehaviorOverrides != nil {
			drs.EnableVmBehaviorOverrides = types.NewBool(*d.EnableVmBehaviorOverrides)
		}
		switch d.DefaultVmBehavior {
		case "":
		case types.DrsBehaviorManual, types.DrsBehaviorPartiallyAutomated, types.DrsBehaviorFullyAutomated:
			drs.DefaultVmBehavior = d.DefaultVmBehavior
		default:
			return drs, iuha, vcArgFault("drsConfig.defaultVmBehavior")
		}
		if d.VmotionRate != 0 {
			if d.VmotionRate < 1 || d.VmotionRate > 5 {
				return drs, iuha, vcArgFault("drsConfig.vmotionRate")
			}
			drs.VmotionRate = d.VmotionRate
		}
		if d.Option != nil {
			drs.Option = d.Option
		}
	}
	if h := spec.InfraUpdateHaConfig; h != nil {
		if h.Enabled != nil {
			iuha.Enabled = types.NewBool(*h.Enabled)
		}
		switch h.Behavior {
		case "":
		case "Manual", "Automated":
			iuha.Behavior = h.Behavior
		default:
			return drs, iuha, vcArgFault("infraUpdateHaConfig.behavior")
		}
		for prop, pair := range map[string][2]*string{
			"infraUpdateHaConfig.moderateRemediation": {&h.ModerateRemediation, &iuha.ModerateRemediation},
			"infraUpdateHaConfig.severeRemediation":   {&h.SevereRemediation, &iuha.SevereRemediation},
		} {
			switch *pair[0] {
			case "":
			case "QuarantineMode", "MaintenanceMode":
				*pair[1] = *pair[0]
			default:
				return drs, iuha, vcArgFault(prop)
			}
		}
		if len(h.Providers) == 1 && h.Providers[0] == "" {
			iuha.Providers = nil
		} else if len(h.Providers) > 0 {
			vcHealth.Lock()
			for _, id := range h.Providers {
				if vcHealth.providers[id] == nil {
					vcHealth.Unlock()
					return drs, iuha, vcArgFault("infraUpdateHaConfig.providers")
				}
			}
			vcHealth.Unlock()
			iuha.Providers = append([]string(nil), h.Providers...)
		}
		if iuha.ModerateRemediation == "MaintenanceMode" && iuha.SevereRemediation == "QuarantineMode" {
			return drs, iuha, vcArgFault("infraUpdateHaConfig.moderateRemediation")
		}
	}
	return drs, iuha, nil
}

func vcHandleReconfigureCluster(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.ReconfigureComputeResource_Task)
	cl, ok := simulator.Map.Get(req.This).(*simulator.ClusterComputeResource)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	if denied := vcCheckPrivilege(ctx, "Host.Inventory.EditCluster", cl.Self); denied != nil {
		return denied
	}
	spec, _ := req.Spec.(*types.ClusterConfigSpecEx)
	_, drs, iuha := vcClusterConfig(cl.Self)
	var refusal *vcMoveFault
	if spec != nil {
		drs, iuha, refusal = vcMergeClusterSpec(drs, iuha, spec, req.Modify)
	}
	if refusal != nil || spec == nil {
		if refusal == nil {
			refusal = vcArgFault("spec")
		}
		task := simulator.CreateTask(cl, "reconfigureCluster", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return nil, refusal.fault
		})
		vcSetTaskInfo(ctx, task, "ReconfigureComputeResource_Task", "ClusterComputeResource.reconfigureEx", cl.Name)
		return &methods.ReconfigureComputeResource_TaskBody{Res: &types.ReconfigureComputeResource_TaskResponse{Returnval: vcRunTask(task, &refusal)}}
	}
	var res soap.HasFault
	simulator.Map.WithLock(cl, func() { res = cl.ReconfigureComputeResourceTask(req) }) // rules, groups, overrides
	body, ok := res.(*methods.ReconfigureComputeResource_TaskBody)
	if !ok || body.Res == nil {
		return res
	}
	if task, ok := simulator.Map.Get(body.Res.Returnval).(*simulator.Task); ok {
		failed := false
		simulator.Map.WithLock(task, func() {
			vcSetTaskInfo(ctx, task, "ReconfigureComputeResource_Task", "ClusterComputeResource.reconfigureEx", cl.Name)
			failed = task.Info.State == types.TaskInfoStateError
		})
		if failed {
			return res
		}
	}
	vcApplyClusterConfig(cl, drs, iuha)
	vcPostEvents(ctx, &types.ClusterReconfiguredEvent{ClusterEvent: types.ClusterEvent{Event: vcEventArgs(cl.Self)}})
	vcInfraUpdateHaKick(cl.Self)
	return res
}

// vcApplyClusterConfig sets, publishes and journals a cluster's DRS and Proactive HA settings.
func vcApplyClusterConfig(cl *simulator.ClusterComputeResource, drs types.ClusterDrsConfigInfo, iuha types.ClusterInfraUpdateHaConfigInfo) {
	simulator.Map.WithLock(cl, func() {
		cfg, ok := cl.ConfigurationEx.(*types.ClusterConfigInfoEx)
		if !ok {
			return
		}
		next := *cfg
		next.DrsConfig = drs
		h := iuha
		next.InfraUpdateHaConfig = &h
		old := cl.Configuration
		old.DrsConfig = drs
		simulator.Map.Update(cl, []types.PropertyChange{
			{Name: "configurationEx", Val: &next},
			{Name: "configuration", Val: old},
		})
	})
	if vcJournal == nil {
		return
	}
	doc, err := vcXMLEncode(vcClusterConfigDoc{Drs: drs, InfraUpdateHa: &iuha})
	if err != nil {
		return
	}
	vcJournal.write("cluster_config", map[string]interface{}{"cluster": cl.Name, "xml": doc})
}

func replayClusterConfig(l *Lab, e *journalEntry) error {
	var r struct {
		Cluster string `json:"cluster"`
		XML     string `json:"xml"`
	}
	if err := e.decode(&r); err != nil {
		return err
	}
	var doc vcClusterConfigDoc
	if err := vcXMLDecode(r.XML, &doc); err != nil {
		return err
	}
	for _, obj := range simulator.Map.All("ClusterComputeResource") {
		if cl, ok := obj.(*simulator.ClusterComputeResource); ok && cl.Name == r.Cluster {
			iuha := vcDefaultInfraUpdateHa()
			if doc.InfraUpdateHa != nil {
				iuha = doc.InfraUpdateHa
			}
			vcApplyClusterConfig(cl, doc.Drs, *iuha)
			return nil
		}
	}
	return fmt.Errorf("unknown cluster %q", r.Cluster)
}
