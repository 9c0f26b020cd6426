package main

// HostDateTimeSystem (configManager.dateTimeSystem): the host's clock and its NTP configuration.
//
// A host in a vCenter cluster keeps time with NTP (vSphere's host time configuration; vSAN, HA
// and certificates need synchronized clocks): dateTimeInfo has the time zone UTC (ESXi's only
// one), systemClockProtocol "ntp" and the NTP servers, the same as HostSystem.config.dateTimeInfo;
// the ntpd service runs (host_service_system.go). QueryDateTime answers the host's current time
// (the lab's clock), QueryAvailableTimeZones UTC; UpdateDateTimeConfig changes the NTP servers
// (Host.Config.DateTime), RefreshDateTimeSystem does nothing more than on a host whose clock is
// set. Calls that need the host fail with HostNotConnected when it is not connected.

import (
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var hostTimeZoneUTC = types.HostDateTimeSystemTimeZone{Key: "UTC", Name: "UTC", Description: "UTC", GmtOffset: 0}

type labDateTimeSystem struct {
	mo.HostDateTimeSystem // first field: the simulator's PropertyCollector reads it

	host *simulator.HostSystem
}

func newHostDateTimeSystem(hs *simulator.HostSystem) *labDateTimeSystem {
	servers := []string{"0.pool.ntp.org", "1.pool.ntp.org"}
	info := types.HostDateTimeInfo{
		TimeZone:            hostTimeZoneUTC,
		SystemClockProtocol: "ntp",
		NtpConfig:           &types.HostNtpConfig{Server: servers, ConfigFile: ntpConfigFile(servers)},
	}
	hs.Config.DateTimeInfo = &info
	s := &labDateTimeSystem{HostDateTimeSystem: mo.HostDateTimeSystem{DateTimeInfo: info}, host: hs}
	s.Self = hostObjectRef(hs, "HostDateTimeSystem", "dateTimeSystem")
	return s
}

// ntpConfigFile is the /etc/ntp.conf ESXi writes for the servers.
func ntpConfigFile(servers []string) []string {
	lines := []string{"restrict default nomodify notrap nopeer noquery", "restrict 127.0.0.1", "restrict -6 ::1", "driftfile /etc/ntp.drift"}
	for _, s := range servers {
		lines = append(lines, "server "+s)
	}
	return lines
}

func (s *labDateTimeSystem) QueryDateTime(ctx *simulator.Context, req *types.QueryDateTime) soap.HasFault {
	if refused := hostManagerRefusal(s.host); refused != nil {
		return refused
	}
	return &methods.QueryDateTimeBody{Res: &types.QueryDateTimeResponse{Returnval: time.Now().UTC()}}
}

func (s *labDateTimeSystem) QueryAvailableTimeZones(ctx *simulator.Context, req *types.QueryAvailableTimeZones) soap.HasFault {
	return &methods.QueryAvailableTimeZonesBody{Res: &types.QueryAvailableTimeZonesResponse{
		Returnval: []types.HostDateTimeSystemTimeZone{hostTimeZoneUTC}}}
}

func (s *labDateTimeSystem) RefreshDateTimeSystem(ctx *simulator.Context, req *types.RefreshDateTimeSystem) soap.HasFault {
	if refused := hostManagerRefusal(s.host); refused != nil {
		return refused
	}
	return &methods.RefreshDateTimeSystemBody{Res: &types.RefreshDateTimeSystemResponse{}}
}

func (s *labDateTimeSystem) UpdateDateTimeConfig(ctx *simulator.Context, req *types.UpdateDateTimeConfig) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "Host.Config.DateTime", s.host.Self); denied != nil {
		return denied
	}
	if refused := hostManagerRefusal(s.host); refused != nil {
		return refused
	}
	info := s.DateTimeInfo
	if req.Config.TimeZone != "" && req.Config.TimeZone != hostTimeZoneUTC.Key {
		return vcFault(&types.InvalidArgument{InvalidProperty: "config.timeZone"}, "A specified parameter was not correct: config.timeZone")
	}
	if req.Config.NtpConfig != nil {
		servers := append([]string(nil), req.Config.NtpConfig.Server...)
		info.NtpConfig = &types.HostNtpConfig{Server: servers, ConfigFile: ntpConfigFile(servers)}
	}
	simulator.Map.Update(s, []types.PropertyChange{{Name: "dateTimeInfo", Val: info}})
	simulator.Map.WithLock(s.host, func() {
		simulator.Map.Update(s.host, []types.PropertyChange{{Name: "config.dateTimeInfo", Val: &info}})
	})
	return &methods.UpdateDateTimeConfigBody{Res: &types.UpdateDateTimeConfigResponse{}}
}
