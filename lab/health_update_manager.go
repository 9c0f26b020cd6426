package main

// HealthUpdateManager: where Proactive HA health providers report host health (vSphere API 6.5).
// The 0.24.2 simulator advertises it in ServiceContent with no object behind it. The lab answers
// as the API reference states (VI JSON API reference, HealthUpdateManager; faults quoted there):
//   - RegisterHealthUpdateProvider(name, healthUpdateInfo[]) returns the provider id; a name in
//     use, an empty name, duplicate info ids or a componentType other than Memory, Power, Fan,
//     Network, Storage are InvalidArgument (the fault the WSDL declares; the cases are the lab's);
//   - UnregisterHealthUpdateProvider: NotFound; InvalidState while a cluster's
//     infraUpdateHaConfig lists the provider;
//   - AddMonitoredEntities / RemoveMonitoredEntities: NotFound for an unknown provider;
//     NotSupported when the session's user is not the one who registered it; InvalidArgument for
//     an entity that is not a HostSystem, duplicates, one already (not) monitored; removing a
//     host of a cluster where the provider is enabled is InvalidState;
//   - HasMonitoredEntity (InvalidArgument for a non-host), QueryMonitoredEntities,
//     QueryHealthUpdateInfos, QueryHealthUpdates, QueryProviderName (NotFound), HasProvider,
//     QueryProviderList, QueryUnmonitoredHosts;
//   - PostHealthUpdates: NotFound, NotSupported (other user), InvalidArgument for an unknown
//     HealthUpdateInfo id, a host the provider does not monitor, two updates with one id, an id
//     posted before, green with a remediation, gray; each update is the host's current status for
//     that info id, and Proactive HA reacts (cluster_infra_update_ha.go);
//   - privileges HealthUpdateProvider.Register / .Update / .Unregister on the root folder.
// "A VirtualCenter Server restart implicitly unregisters all providers" (API reference): none of
// this is journaled; a restarted lab has no providers, and a provider registers again (new id).

import (
	"fmt"
	"sort"
	"sync"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type vcHealthProvider struct {
	id, name, user string
	infos          []types.HealthUpdateInfo
	monitored      []types.ManagedObjectReference
	current        map[string]types.HealthUpdate // host + "\x00" + info id -> the latest update
	posted         map[string]bool               // every update id posted
}

// vcHealth is the providers' state; a separate lock from the manager object's, read by the
// Proactive HA reaction and the control API.
var vcHealth = struct {
	sync.Mutex
	providers map[string]*vcHealthProvider
}{providers: map[string]*vcHealthProvider{}}

type vcHealthUpdateManager struct {
	mo.HealthUpdateManager
}

func init() {
	vcInstallers = append(vcInstallers, func() {
		si, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance)
		if !ok || si.Content.HealthUpdateManager == nil {
			return // an ESX model has none
		}
		m := &vcHealthUpdateManager{}
		m.Self = *si.Content.HealthUpdateManager
		simulator.Map.Put(m)
	})
	topologyExtras = append(topologyExtras, vcTopologyHealth)
}

// vcTopologyHealth adds GET /v1/topology's "host_health": per host name, the providers' current
// updates for it and the host's maintenance and quarantine modes.
func vcTopologyHealth(doc map[string]interface{}) {
	type update struct {
		Provider    string `json:"provider"`
		InfoID      string `json:"info_id"`
		ID          string `json:"id"`
		Status      string `json:"status"`
		Remediation string `json:"remediation,omitempty"`
	}
	type hostHealth struct {
		Updates     []update `json:"updates"`
		Maintenance bool     `json:"in_maintenance_mode"`
		Quarantine  bool     `json:"in_quarantine_mode"`
	}
	out := map[string]*hostHealth{}
	for _, obj := range simulator.Map.All("HostSystem") {
		if h, ok := obj.(*simulator.HostSystem); ok {
			hh := &hostHealth{Updates: []update{}}
			hh.Maintenance, hh.Quarantine = vcHostModes(h)
			out[h.Name] = hh
		}
	}
	vcHealth.Lock()
	for _, p := range vcHealth.providers {
		for _, u := range p.current {
			if hh := out[vcName(u.Entity)]; hh != nil {
				hh.Updates = append(hh.Updates, update{p.name, u.HealthUpdateInfoId, u.Id, string(u.Status), u.Remediation})
			}
		}
	}
	vcHealth.Unlock()
	for _, hh := range out {
		sort.Slice(hh.Updates, func(i, j int) bool { return hh.Updates[i].ID < hh.Updates[j].ID })
	}
	doc["host_health"] = out
}

var vcHealthComponents = []string{"Memory", "Power", "Fan", "Network", "Storage"}

func vcInvalidArgument(prop, msg string) soap.HasFault {
	return vcFault(&types.InvalidArgument{InvalidProperty: prop}, "A specified parameter was not correct: "+prop+". "+msg)
}

func vcProviderNotFound() soap.HasFault {
	return vcFault(&types.NotFound{}, "The object or item referred to could not be found: no provider with this id is registered.")
}

// vcProvider returns the provider (vcHealth locked) and, for changes, checks it belongs to the
// caller's user.
func vcProvider(ctx *simulator.Context, id string, owner bool) (*vcHealthProvider, soap.HasFault) {
	p := vcHealth.providers[id]
	if p == nil {
		return nil, vcProviderNotFound()
	}
	if owner && (ctx.Session == nil || ctx.Session.UserName != p.user) {
		return nil, vcFault(&types.NotSupported{}, "The operation is not supported: the session's user did not register this provider.")
	}
	return p, nil
}

// vcWithProvider answers from a provider (vcHealth locked), NotFound when there is none.
func vcWithProvider(ctx *simulator.Context, id string, answer func(p *vcHealthProvider) soap.HasFault) soap.HasFault {
	vcHealth.Lock()
	defer vcHealth.Unlock()
	p, f := vcProvider(ctx, id, false)
	if f != nil {
		return f
	}
	return answer(p)
}

// vcHostEntities checks a list of entities: hosts that exist, no duplicates.
func vcHostEntities(list []types.ManagedObjectReference) soap.HasFault {
	seen := map[types.ManagedObjectReference]bool{}
	for _, e := range list {
		if _, ok := simulator.Map.Get(e).(*simulator.HostSystem); !ok || e.Type != "HostSystem" {
			return vcInvalidArgument("entities", fmt.Sprintf("%s is not a HostSystem.", e.Value))
		}
		if seen[e] {
			return vcInvalidArgument("entities", fmt.Sprintf("%s is listed twice.", e.Value))
		}
		seen[e] = true
	}
	return nil
}

func (p *vcHealthProvider) monitors(host types.ManagedObjectReference) bool {
	return simulator.FindReference(p.monitored, host) != nil
}

func (m *vcHealthUpdateManager) RegisterHealthUpdateProvider(ctx *simulator.Context, req *types.RegisterHealthUpdateProvider) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "HealthUpdateProvider.Register", vcRootFolder()); denied != nil {
		return denied
	}
	if req.Name == "" {
		return vcInvalidArgument("name", "The provider name must not be empty.")
	}
	ids := map[string]bool{}
	for _, info := range req.HealthUpdateInfo {
		if info.Id == "" || ids[info.Id] {
			return vcInvalidArgument("healthUpdateInfo", fmt.Sprintf("The HealthUpdateInfo id %q is empty or repeated.", info.Id))
		}
		if !vcContains(vcHealthComponents, info.ComponentType) {
			return vcInvalidArgument("healthUpdateInfo", fmt.Sprintf("Unknown componentType %q.", info.ComponentType))
		}
		ids[info.Id] = true
	}
	vcHealth.Lock()
	defer vcHealth.Unlock()
	for _, p := range vcHealth.providers {
		if p.name == req.Name {
			return vcInvalidArgument("name", fmt.Sprintf("A provider named %q is already registered.", req.Name))
		}
	}
	p := &vcHealthProvider{id: uuid.New().String(), name: req.Name, user: ctx.Session.UserName,
		infos:   append([]types.HealthUpdateInfo(nil), req.HealthUpdateInfo...),
		current: map[string]types.HealthUpdate{}, posted: map[string]bool{}}
	vcHealth.providers[p.id] = p
	return &methods.RegisterHealthUpdateProviderBody{Res: &types.RegisterHealthUpdateProviderResponse{Returnval: p.id}}
}

func (m *vcHealthUpdateManager) UnregisterHealthUpdateProvider(ctx *simulator.Context, req *types.UnregisterHealthUpdateProvider) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "HealthUpdateProvider.Unregister", vcRootFolder()); denied != nil {
		return denied
	}
	if cl := vcClusterUsingProvider(req.ProviderId, false); cl != "" {
		return vcFault(&types.InvalidState{}, "The operation is not allowed in the current state: the provider is used by cluster "+cl+".")
	}
	vcHealth.Lock()
	defer vcHealth.Unlock()
	if _, f := vcProvider(ctx, req.ProviderId, false); f != nil {
		return f
	}
	delete(vcHealth.providers, req.ProviderId)
	return &methods.UnregisterHealthUpdateProviderBody{Res: &types.UnregisterHealthUpdateProviderResponse{}}
}

func (m *vcHealthUpdateManager) QueryProviderList(ctx *simulator.Context, req *types.QueryProviderList) soap.HasFault {
	vcHealth.Lock()
	defer vcHealth.Unlock()
	ids := make([]string, 0, len(vcHealth.providers))
	for id := range vcHealth.providers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return &methods.QueryProviderListBody{Res: &types.QueryProviderListResponse{Returnval: ids}}
}

func (m *vcHealthUpdateManager) HasProvider(ctx *simulator.Context, req *types.HasProvider) soap.HasFault {
	vcHealth.Lock()
	defer vcHealth.Unlock()
	return &methods.HasProviderBody{Res: &types.HasProviderResponse{Returnval: vcHealth.providers[req.Id] != nil}}
}

func (m *vcHealthUpdateManager) QueryProviderName(ctx *simulator.Context, req *types.QueryProviderName) soap.HasFault {
	return vcWithProvider(ctx, req.Id, func(p *vcHealthProvider) soap.HasFault {
		return &methods.QueryProviderNameBody{Res: &types.QueryProviderNameResponse{Returnval: p.name}}
	})
}

func (m *vcHealthUpdateManager) QueryHealthUpdateInfos(ctx *simulator.Context, req *types.QueryHealthUpdateInfos) soap.HasFault {
	return vcWithProvider(ctx, req.ProviderId, func(p *vcHealthProvider) soap.HasFault {
		return &methods.QueryHealthUpdateInfosBody{Res: &types.QueryHealthUpdateInfosResponse{Returnval: append([]types.HealthUpdateInfo(nil), p.infos...)}}
	})
}

func (m *vcHealthUpdateManager) AddMonitoredEntities(ctx *simulator.Context, req *types.AddMonitoredEntities) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "HealthUpdateProvider.Update", vcRootFolder()); denied != nil {
		return denied
	}
	if f := vcHostEntities(req.Entities); f != nil {
		return f
	}
	vcHealth.Lock()
	defer vcHealth.Unlock()
	p, f := vcProvider(ctx, req.ProviderId, true)
	if f != nil {
		return f
	}
	for _, e := range req.Entities {
		if p.monitors(e) {
			return vcInvalidArgument("entities", fmt.Sprintf("%s is already monitored by this provider.", e.Value))
		}
	}
	p.monitored = append(append([]types.ManagedObjectReference(nil), p.monitored...), req.Entities...)
	return &methods.AddMonitoredEntitiesBody{Res: &types.AddMonitoredEntitiesResponse{}}
}

func (m *vcHealthUpdateManager) RemoveMonitoredEntities(ctx *simulator.Context, req *types.RemoveMonitoredEntities) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "HealthUpdateProvider.Update", vcRootFolder()); denied != nil {
		return denied
	}
	if f := vcHostEntities(req.Entities); f != nil {
		return f
	}
	for _, e := range req.Entities {
		if h, ok := simulator.Map.Get(e).(*simulator.HostSystem); ok && h.Parent != nil && vcProviderEnabledOn(*h.Parent, req.ProviderId) {
			return vcFault(&types.InvalidState{}, fmt.Sprintf("The operation is not allowed in the current state: host %s is in a cluster where this provider is enabled.", h.Name))
		}
	}
	vcHealth.Lock()
	defer vcHealth.Unlock()
	p, f := vcProvider(ctx, req.ProviderId, true)
	if f != nil {
		return f
	}
	for _, e := range req.Entities {
		if !p.monitors(e) {
			return vcInvalidArgument("entities", fmt.Sprintf("%s is not monitored by this provider.", e.Value))
		}
	}
	var kept []types.ManagedObjectReference
	for _, e := range p.monitored {
		if simulator.FindReference(req.Entities, e) == nil {
			kept = append(kept, e)
		}
	}
	p.monitored = kept
	for k, u := range p.current {
		if simulator.FindReference(req.Entities, u.Entity) != nil {
			delete(p.current, k)
		}
	}
	return &methods.RemoveMonitoredEntitiesBody{Res: &types.RemoveMonitoredEntitiesResponse{}}
}

func (m *vcHealthUpdateManager) HasMonitoredEntity(ctx *simulator.Context, req *types.HasMonitoredEntity) soap.HasFault {
	return vcWithProvider(ctx, req.ProviderId, func(p *vcHealthProvider) soap.HasFault {
		if req.Entity.Type != "HostSystem" {
			return vcInvalidArgument("entity", "Only HostSystem entities are monitored.")
		}
		return &methods.HasMonitoredEntityBody{Res: &types.HasMonitoredEntityResponse{Returnval: p.monitors(req.Entity)}}
	})
}

func (m *vcHealthUpdateManager) QueryMonitoredEntities(ctx *simulator.Context, req *types.QueryMonitoredEntities) soap.HasFault {
	return vcWithProvider(ctx, req.ProviderId, func(p *vcHealthProvider) soap.HasFault {
		return &methods.QueryMonitoredEntitiesBody{Res: &types.QueryMonitoredEntitiesResponse{Returnval: append([]types.ManagedObjectReference(nil), p.monitored...)}}
	})
}

func (m *vcHealthUpdateManager) QueryUnmonitoredHosts(ctx *simulator.Context, req *types.QueryUnmonitoredHosts) soap.HasFault {
	cr := vcComputeResource(req.Cluster)
	if cr == nil {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.Cluster}, "")
	}
	return vcWithProvider(ctx, req.ProviderId, func(p *vcHealthProvider) soap.HasFault {
		var out []types.ManagedObjectReference
		for _, h := range cr.Host {
			if !p.monitors(h) {
				out = append(out, h)
			}
		}
		return &methods.QueryUnmonitoredHostsBody{Res: &types.QueryUnmonitoredHostsResponse{Returnval: out}}
	})
}

func (m *vcHealthUpdateManager) PostHealthUpdates(ctx *simulator.Context, req *types.PostHealthUpdates) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "HealthUpdateProvider.Update", vcRootFolder()); denied != nil {
		return denied
	}
	vcHealth.Lock()
	p, f := vcProvider(ctx, req.ProviderId, true)
	if f == nil {
		f = p.check(req.Updates)
	}
	if f != nil {
		vcHealth.Unlock()
		return f
	}
	clusters := map[types.ManagedObjectReference]bool{}
	for _, u := range req.Updates {
		p.posted[u.Id] = true
		p.current[u.Entity.Value+"\x00"+u.HealthUpdateInfoId] = u
		if h, ok := simulator.Map.Get(u.Entity).(*simulator.HostSystem); ok && h.Parent != nil && h.Parent.Type == "ClusterComputeResource" {
			clusters[*h.Parent] = true
		}
	}
	vcHealth.Unlock()
	for cl := range clusters {
		vcInfraUpdateHaKick(cl)
	}
	return &methods.PostHealthUpdatesBody{Res: &types.PostHealthUpdatesResponse{}}
}

// check validates a batch of updates as PostHealthUpdates does (vcHealth locked).
func (p *vcHealthProvider) check(updates []types.HealthUpdate) soap.HasFault {
	infos := map[string]bool{}
	for _, info := range p.infos {
		infos[info.Id] = true
	}
	ids := map[string]bool{}
	for _, u := range updates {
		switch {
		case !infos[u.HealthUpdateInfoId]:
			return vcInvalidArgument("updates", fmt.Sprintf("Unknown HealthUpdateInfo id %q.", u.HealthUpdateInfoId))
		case u.Entity.Type != "HostSystem" || !p.monitors(u.Entity):
			return vcInvalidArgument("updates", fmt.Sprintf("%s is not monitored by this provider.", u.Entity.Value))
		case u.Id == "" || ids[u.Id]:
			return vcInvalidArgument("updates", fmt.Sprintf("The HealthUpdate id %q is empty or repeated.", u.Id))
		case p.posted[u.Id]:
			return vcInvalidArgument("updates", fmt.Sprintf("The HealthUpdate id %q was posted before.", u.Id))
		case u.Status == types.ManagedEntityStatusGray:
			return vcInvalidArgument("updates", "A HealthUpdate cannot have status gray.")
		case u.Status == types.ManagedEntityStatusGreen && u.Remediation != "":
			return vcInvalidArgument("updates", "A green HealthUpdate cannot have a remediation.")
		case u.Status != types.ManagedEntityStatusGreen && u.Status != types.ManagedEntityStatusYellow && u.Status != types.ManagedEntityStatusRed:
			return vcInvalidArgument("updates", fmt.Sprintf("Unknown status %q.", u.Status))
		}
		ids[u.Id] = true
	}
	return nil
}

func (m *vcHealthUpdateManager) QueryHealthUpdates(ctx *simulator.Context, req *types.QueryHealthUpdates) soap.HasFault {
	return vcWithProvider(ctx, req.ProviderId, func(p *vcHealthProvider) soap.HasFault {
		keys := make([]string, 0, len(p.current))
		for k := range p.current {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]types.HealthUpdate, 0, len(keys))
		for _, k := range keys {
			out = append(out, p.current[k])
		}
		return &methods.QueryHealthUpdatesBody{Res: &types.QueryHealthUpdatesResponse{Returnval: out}}
	})
}

// vcHostHealth is the worst current status the given providers report for a host ("" when none
// reports it), with the updates behind it.
func vcHostHealth(host types.ManagedObjectReference, providers []string) (types.ManagedEntityStatus, []types.HealthUpdate) {
	vcHealth.Lock()
	defer vcHealth.Unlock()
	rank := map[types.ManagedEntityStatus]int{types.ManagedEntityStatusGreen: 1, types.ManagedEntityStatusYellow: 2, types.ManagedEntityStatusRed: 3}
	var worst types.ManagedEntityStatus
	var updates []types.HealthUpdate
	for _, id := range providers {
		p := vcHealth.providers[id]
		if p == nil || !p.monitors(host) {
			continue
		}
		for _, u := range p.current {
			if u.Entity == host {
				updates = append(updates, u)
				if rank[u.Status] > rank[worst] {
					worst = u.Status
				}
			}
		}
	}
	sort.Slice(updates, func(i, j int) bool { return updates[i].Id < updates[j].Id })
	return worst, updates
}
