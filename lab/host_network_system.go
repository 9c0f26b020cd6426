package main

// HostNetworkSystem (configManager.networkSystem): each host's own network, as a rack server in a
// vSphere cluster has it.
//
// The simulator's vCenter model gives every host the ESXi recording's network (two vmxnet3 NICs of
// a nested ESXi, vmk0 on 127.0.0.1, one MAC for all hosts) and a network system whose networkConfig
// is unset: Ansible's vmware_host_vmnic_info reads networkConfig.pnic and fails. Here each host
// gets two 25 GbE uplinks vmnic0/vmnic1 (Intel XXV710, driver i40en, MACs of Intel's OUI, link
// up at 25000 Mb full duplex, on PCI 0000:19:00.0/.1, listed in hardware.pciDevice by
// host_system_hardware.go), both uplinks of vSwitch0 with the "Management Network" and "VM Network" port
// groups, vmk0 on the management network with the host's own address (the MAC of vmnic0, as ESXi
// gives vmk0), and DNS and routing to match. networkInfo is also HostSystem.config.network;
// networkConfig is the same configuration as HostNetworkConfig (what UpdateNetworkConfig takes),
// and the simulator's methods (AddPortGroup, QueryNetworkHint, ...) keep working on it.

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	hostDomain  = "lab.local"
	hostUplinks = 2
)

// hostManagementIP is the host's vmk0 address: 10.<x>.<cluster>.<11+host in cluster>.
func (s *san) hostManagementIP(h *host) (ip, gateway string) {
	ci, hi := s.hostSlot(h)
	net := fmt.Sprintf("10.%d.%d", 10+ci/256, ci%256)
	return fmt.Sprintf("%s.%d", net, 11+hi%240), net + ".1"
}

// hostMAC is a MAC of the host's onboard Intel adapter (OUI 3c:fd:fe), port n.
func (s *san) hostMAC(h *host, n int) string {
	ci, hi := s.hostSlot(h)
	return fmt.Sprintf("3c:fd:fe:%02x:%02x:%02x", ci&0xff, hi&0xff, 0x10+n)
}

func newHostNetworkSystem(hs *simulator.HostSystem, h *host, s *san) *simulator.HostNetworkSystem {
	ip, gateway := s.hostManagementIP(h)
	var pnics []types.PhysicalNic
	var devices []string
	for n := 0; n < hostUplinks; n++ {
		dev := fmt.Sprintf("vmnic%d", n)
		devices = append(devices, dev)
		link := types.PhysicalNicLinkInfo{SpeedMb: 25000, Duplex: true}
		pnics = append(pnics, types.PhysicalNic{
			Key: "key-vim.host.PhysicalNic-" + dev, Device: dev, Pci: fmt.Sprintf("0000:19:00.%d", n), Driver: "i40en",
			LinkSpeed: &link,
			ValidLinkSpecification: []types.PhysicalNicLinkInfo{
				{SpeedMb: 1000, Duplex: true}, {SpeedMb: 10000, Duplex: true}, {SpeedMb: 25000, Duplex: true}},
			Spec:                         types.PhysicalNicSpec{Ip: &types.HostIpConfig{}},
			Mac:                          s.hostMAC(h, n),
			WakeOnLanSupported:           false,
			VmDirectPathGen2Supported:    types.NewBool(false),
			ResourcePoolSchedulerAllowed: types.NewBool(true),
			AutoNegotiateSupported:       types.NewBool(true),
		})
	}
	tmpl := hs.Config.Network // the ESXi recording: vSwitch0 policies and port groups
	vswitch := tmpl.Vswitch[0]
	vswitch.Pnic = nil
	for _, d := range devices {
		vswitch.Pnic = append(vswitch.Pnic, "key-vim.host.PhysicalNic-"+d)
	}
	spec := vswitch.Spec
	bridge := *spec.Bridge.(*types.HostVirtualSwitchBondBridge)
	bridge.NicDevice = devices
	spec.Bridge = &bridge
	if spec.Policy != nil && spec.Policy.NicTeaming != nil {
		policy := *spec.Policy
		teaming := *policy.NicTeaming
		teaming.NicOrder = &types.HostNicOrderPolicy{ActiveNic: devices}
		policy.NicTeaming = &teaming
		spec.Policy = &policy
	}
	vswitch.Spec = spec

	vnic := tmpl.Vnic[0]
	vnic.Spec.Ip = &types.HostIpConfig{Dhcp: false, IpAddress: ip, SubnetMask: "255.255.255.0"}
	vnic.Spec.Mac = s.hostMAC(h, 0)
	dns := &types.HostDnsConfig{Dhcp: false, HostName: h.name, DomainName: hostDomain,
		Address: []string{"10.10.0.53", "10.10.0.54"}, SearchDomain: []string{hostDomain}}
	route := &types.HostIpRouteConfig{DefaultGateway: gateway, GatewayDevice: vnic.Device}

	info := *tmpl
	info.Vswitch = []types.HostVirtualSwitch{vswitch}
	info.Pnic = pnics
	info.Vnic = []types.HostVirtualNic{vnic}
	info.DnsConfig = dns
	info.IpRouteConfig = route
	info.RouteTableInfo = nil
	hs.Config.Network = &info

	config := &types.HostNetworkConfig{
		Vswitch: []types.HostVirtualSwitchConfig{{Name: vswitch.Name, Spec: &vswitch.Spec}},
		Vnic: []types.HostVirtualNicConfig{{Device: vnic.Device, Portgroup: vnic.Portgroup,
			Spec: &vnic.Spec}},
		DnsConfig:     dns,
		IpRouteConfig: route,
	}
	for _, pg := range info.Portgroup {
		config.Portgroup = append(config.Portgroup, types.HostPortGroupConfig{Spec: &pg.Spec})
	}
	for _, p := range pnics {
		config.Pnic = append(config.Pnic, types.PhysicalNicConfig{Device: p.Device, Spec: p.Spec})
	}

	old := hs.ConfigManager.NetworkSystem // the simulator's, made with the recording's network
	ns := &simulator.HostNetworkSystem{
		Host: &hs.HostSystem,
		HostNetworkSystem: mo.HostNetworkSystem{
			Capabilities:        hs.Config.Capabilities,
			OffloadCapabilities: hs.Config.OffloadCapabilities,
			NetworkInfo:         &info,
			NetworkConfig:       config,
			DnsConfig:           dns,
			IpRouteConfig:       route,
		},
	}
	ns.Self = hostObjectRef(hs, "HostNetworkSystem", "networkSystem")
	if old != nil {
		simulator.Map.Remove(*old)
	}
	return ns
}
