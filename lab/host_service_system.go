package main

// HostServiceSystem (configManager.serviceSystem): the host's services, as vSphere's "Services"
// view and check_vsphere host-service, Ansible vmware_host_service_info/_manager read and change
// them.
//
// The services and their labels, packages, policies and states are the ESXi recording of the
// simulator (simulator/esx/host_config_info.go: DCUI, TSM, TSM-SSH, lbtd, lwsmd, ntpd, pcscd,
// sfcbd-watchdog, snmpd, vmsyslogd, vpxa, xorg), with two differences for a host that vCenter
// manages: vpxa (the vCenter agent) runs, and ntpd runs with policy "on" (NTP configured, see
// host_date_time_system.go). ESXi Shell and SSH are stopped, as ESXi ships them. The same list is
// HostSystem.config.service.
//
// StartService, StopService, RestartService, UpdateServicePolicy and RefreshServices work as on
// ESXi (an unknown service is NotFound; they need Host.Config.NetService and a connected host),
// publish serviceInfo and config.service, and are journaled: a service's state is the host's, not
// vCenter's, and survives a restart of the lab's vCenter.
//
//	{"t":"host_service","host":"esx-a01","service":"TSM-SSH","running":true,"policy":"on"}

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	registerJournal("host_service", replayHostService)
}

type labServiceSystem struct {
	mo.HostServiceSystem // first field: the simulator's PropertyCollector reads it

	host *simulator.HostSystem
}

func newHostServiceSystem(hs *simulator.HostSystem) *labServiceSystem {
	var services []types.HostService
	if hs.Config.Service != nil {
		services = append(services, hs.Config.Service.Service...)
	}
	for i := range services {
		switch services[i].Key {
		case "vpxa", "ntpd":
			services[i].Running = true
			services[i].Policy = "on"
		}
	}
	info := types.HostServiceInfo{Service: services}
	hs.Config.Service = &info
	s := &labServiceSystem{HostServiceSystem: mo.HostServiceSystem{ServiceInfo: info}, host: hs}
	s.Self = hostObjectRef(hs, "HostServiceSystem", "serviceSystem")
	return s
}

// change applies f to the service id and publishes the new list (the caller holds s's lock).
func (s *labServiceSystem) change(ctx *simulator.Context, id string, f func(*types.HostService)) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "Host.Config.NetService", s.host.Self); denied != nil {
		return denied
	}
	if refused := hostManagerRefusal(s.host); refused != nil {
		return refused
	}
	list := append([]types.HostService(nil), s.ServiceInfo.Service...)
	i := 0
	for ; i < len(list) && list[i].Key != id; i++ {
	}
	if i == len(list) {
		return vcFault(&types.NotFound{}, fmt.Sprintf("The object or item referred to could not be found: service %s", id))
	}
	f(&list[i])
	s.publish(list)
	vcJournal.write("host_service", map[string]interface{}{"host": s.host.Name, "service": id,
		"running": list[i].Running, "policy": list[i].Policy})
	return nil
}

func (s *labServiceSystem) publish(list []types.HostService) {
	info := types.HostServiceInfo{Service: list}
	simulator.Map.Update(s, []types.PropertyChange{{Name: "serviceInfo", Val: info}})
	simulator.Map.WithLock(s.host, func() {
		simulator.Map.Update(s.host, []types.PropertyChange{{Name: "config.service", Val: &info}})
	})
}

func (s *labServiceSystem) StartService(ctx *simulator.Context, req *types.StartService) soap.HasFault {
	if f := s.change(ctx, req.Id, func(x *types.HostService) { x.Running = true }); f != nil {
		return f
	}
	return &methods.StartServiceBody{Res: &types.StartServiceResponse{}}
}

func (s *labServiceSystem) StopService(ctx *simulator.Context, req *types.StopService) soap.HasFault {
	if f := s.change(ctx, req.Id, func(x *types.HostService) { x.Running = false }); f != nil {
		return f
	}
	return &methods.StopServiceBody{Res: &types.StopServiceResponse{}}
}

func (s *labServiceSystem) RestartService(ctx *simulator.Context, req *types.RestartService) soap.HasFault {
	if f := s.change(ctx, req.Id, func(x *types.HostService) { x.Running = true }); f != nil {
		return f
	}
	return &methods.RestartServiceBody{Res: &types.RestartServiceResponse{}}
}

func (s *labServiceSystem) UpdateServicePolicy(ctx *simulator.Context, req *types.UpdateServicePolicy) soap.HasFault {
	switch req.Policy {
	case "on", "off", "automatic":
	default:
		return vcFault(&types.InvalidArgument{InvalidProperty: "policy"}, "A specified parameter was not correct: policy")
	}
	if f := s.change(ctx, req.Id, func(x *types.HostService) { x.Policy = req.Policy }); f != nil {
		return f
	}
	return &methods.UpdateServicePolicyBody{Res: &types.UpdateServicePolicyResponse{}}
}

func (s *labServiceSystem) RefreshServices(ctx *simulator.Context, req *types.RefreshServices) soap.HasFault {
	if refused := hostManagerRefusal(s.host); refused != nil {
		return refused
	}
	return &methods.RefreshServicesBody{Res: &types.RefreshServicesResponse{}}
}

func replayHostService(l *Lab, e *journalEntry) error {
	var r struct {
		Host    string `json:"host"`
		Service string `json:"service"`
		Running bool   `json:"running"`
		Policy  string `json:"policy"`
	}
	if err := e.decode(&r); err != nil {
		return err
	}
	h, err := l.host(r.Host)
	if err != nil {
		return err
	}
	s, ok := simulator.Map.Get(*h.inv.mo.ConfigManager.ServiceSystem).(*labServiceSystem)
	if !ok {
		return fmt.Errorf("host %s has no service system", r.Host)
	}
	var fault soap.HasFault
	simulator.Map.WithLock(s, func() {
		fault = s.change(nil, r.Service, func(x *types.HostService) { x.Running, x.Policy = r.Running, r.Policy })
	})
	if fault != nil {
		return fmt.Errorf("service %s on %s: %v", r.Service, r.Host, fault.Fault().String)
	}
	return nil
}
