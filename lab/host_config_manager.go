package main

// HostConfigManager: every host has its own object behind each configManager reference.
//
// A host's configManager names about thirty managed objects (cpuScheduler, serviceSystem,
// dateTimeSystem, vsanSystem, networkSystem, healthStatusSystem, certificateManager, ...). On
// vCenter each host has its own, with its own moref (vCenter appends the host's number to the
// host agent's name: "serviceSystem-21" for host-21). The simulator's vCenter model copies the ESXi
// template's references, shared by every host and pointing at objects it never made
// (ManagedObjectNotFound), apart from the datastore, network, firewall, storage systems and the
// advanced options, which it makes per host.
//
// newHostManagers gives each host the rest. The objects with methods clients call, or values that
// differ per host, have their own files (host_service_system.go, host_date_time_system.go,
// host_vsan_system.go, host_network_system.go); the others are plain data objects made here, with
// the values an ESXi host in a vCenter cluster reports (the simulator's ESXi recording,
// simulator/esx/host_config_info.go, where it has them; the API reference's types otherwise), kept
// the same as the matching HostSystem.config property. The advanced options (configManager
// .advancedOption, option_manager.go) are not made here.

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// hostObjectRef is the moref vCenter gives a host's config manager object: the host agent's name
// and the host's number.
func hostObjectRef(hs *simulator.HostSystem, kind, name string) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: kind, Value: name + "-" + strings.TrimPrefix(hs.Self.Value, "host-")}
}

// putHostObject registers obj under ref and returns the reference for the configManager field.
func putHostObject(obj mo.Reference) *types.ManagedObjectReference {
	ref := simulator.Map.Put(obj).Reference()
	return &ref
}

// newHostManagers makes the host's own config manager objects (called once its moref is known).
func (l *Lab) newHostManagers(hs *simulator.HostSystem, h *host) {
	cm := &hs.ConfigManager
	cfg := hs.Config

	ht := &types.HostHyperThreadScheduleInfo{Available: true, Active: true, Config: true}
	cfg.HyperThread = ht
	cpu := &mo.HostCpuSchedulerSystem{HyperthreadInfo: ht}
	cpu.Self = hostObjectRef(hs, "HostCpuSchedulerSystem", "cpuSchedulerSystem")
	cm.CpuScheduler = putHostObject(cpu)

	mem := &mo.HostMemorySystem{}
	mem.Self = hostObjectRef(hs, "HostMemorySystem", "memoryManagerSystem")
	cm.MemoryManager = putHostObject(mem)

	cm.NetworkSystem = putHostObject(newHostNetworkSystem(hs, h, l.san))
	cm.ServiceSystem = putHostObject(newHostServiceSystem(hs))
	cm.DateTimeSystem = putHostObject(newHostDateTimeSystem(hs))
	cm.VsanSystem = putHostObject(newHostVsanSystem(hs))

	vmk := cfg.Network.Vnic[0]
	vmotion := &mo.HostVMotionSystem{
		NetConfig: &types.HostVMotionNetConfig{CandidateVnic: cfg.Network.Vnic,
			SelectedVnic: "VMotionConfig.vmotion.key-vim.host.VirtualNic-" + vmk.Device},
		IpConfig: vmk.Spec.Ip,
	}
	vmotion.Self = hostObjectRef(hs, "HostVMotionSystem", "vmotionSystem")
	cm.VmotionSystem = putHostObject(vmotion)

	vnics := &mo.HostVirtualNicManager{}
	if cfg.VirtualNicManagerInfo != nil {
		vnics.Info = *cfg.VirtualNicManagerInfo
	}
	vnics.Self = hostObjectRef(hs, "HostVirtualNicManager", "virtualNicManager")
	cm.VirtualNicManager = putHostObject(vnics)

	// the coredump partition on the local boot disk (partition 9 of an ESXi install)
	diag := &types.HostDiagnosticPartition{StorageType: "directAttached", DiagnosticType: "singleHost", Slots: -15,
		Id: types.HostScsiDiskPartition{DiskName: h.local.canonical, Partition: 9}}
	cfg.ActiveDiagnosticPartition = diag
	ds := &mo.HostDiagnosticSystem{ActivePartition: diag}
	ds.Self = hostObjectRef(hs, "HostDiagnosticSystem", "diagnosticSystem")
	cm.DiagnosticSystem = putHostObject(ds)

	// in an HA cluster vSphere HA restarts VMs, host autostart is off
	auto := types.HostAutoStartManagerConfig{Defaults: &types.AutoStartDefaults{
		Enabled: types.NewBool(false), StartDelay: 120, StopDelay: 120, WaitForHeartbeat: types.NewBool(false),
		StopAction: "PowerOff"}}
	cfg.AutoStart = &auto
	as := &mo.HostAutoStartManager{Config: auto}
	as.Self = hostObjectRef(hs, "HostAutoStartManager", "autoStartManager")
	cm.AutoStartManager = putHostObject(as)

	snmp := &mo.HostSnmpSystem{
		Configuration: types.HostSnmpConfigSpec{Enabled: types.NewBool(false), Port: 161},
		Limits: types.HostSnmpSystemAgentLimits{MaxReadOnlyCommunities: 10, MaxTrapDestinations: 10,
			MaxCommunityLength: 64, MaxBufferSize: 1500, Capability: types.HostSnmpAgentCapabilityCOMPLETE},
	}
	snmp.Self = hostObjectRef(hs, "HostSnmpSystem", "snmpSystem")
	cm.SnmpSystem = putHostObject(snmp)

	health := hostHealthRuntime()
	hs.Runtime.HealthSystemRuntime = health
	hss := &mo.HostHealthStatusSystem{Runtime: *health}
	hss.Self = hostObjectRef(hs, "HostHealthStatusSystem", "healthStatusSystem")
	cm.HealthStatusSystem = putHostObject(hss)

	auth := &mo.HostAuthenticationManager{}
	if cfg.AuthenticationManagerInfo != nil {
		auth.Info = *cfg.AuthenticationManagerInfo
	}
	auth.Self = hostObjectRef(hs, "HostAuthenticationManager", "authenticationManager")
	cm.AuthenticationManager = putHostObject(auth)

	power := &mo.HostPowerSystem{}
	if cfg.PowerSystemCapability != nil {
		power.Capability = *cfg.PowerSystemCapability
	}
	if cfg.PowerSystemInfo != nil {
		power.Info = *cfg.PowerSystemInfo
	}
	power.Self = hostObjectRef(hs, "HostPowerSystem", "powerSystem")
	cm.PowerSystem = putHostObject(power)

	// no host cache configured (the template's entry names a datastore of the recorded host)
	cfg.CacheConfigurationInfo = nil
	cache := &mo.HostCacheConfigurationManager{}
	cache.Self = hostObjectRef(hs, "HostCacheConfigurationManager", "cacheConfigurationManager")
	cm.CacheConfigurationManager = putHostObject(cache)

	cfg.LockdownMode = "lockdownDisabled"
	access := &mo.HostAccessManager{LockdownMode: types.HostLockdownModeLockdownDisabled}
	access.Self = hostObjectRef(hs, "HostAccessManager", "hostAccessManager")
	cm.HostAccessManager = putHostObject(access)

	// the server's onboard VGA, no GPU
	gfx := &mo.HostGraphicsManager{GraphicsConfig: cfg.GraphicsConfig, GraphicsInfo: []types.HostGraphicsInfo{{
		DeviceName: "Integrated Matrox G200eW3 Graphics Controller", VendorName: "Matrox Electronics Systems Ltd.",
		PciId: "0000:03:00.0", GraphicsType: "basic", MemorySizeInKB: 16384}}}
	cfg.GraphicsInfo = gfx.GraphicsInfo
	gfx.Self = hostObjectRef(hs, "HostGraphicsManager", "graphicsManager")
	cm.GraphicsManager = putHostObject(gfx)

	// the host certificate, issued by vCenter's certificate authority (VMCA) when the host was added
	issued := time.Date(2024, 3, 11, 9, 12, 0, 0, time.UTC)
	expires := issued.AddDate(5, 0, 0)
	certs := &mo.HostCertificateManager{CertificateInfo: types.HostCertificateManagerCertificateInfo{
		Issuer:    "O=VMware, C=US, ST=California, L=Palo Alto, OU=VMware Engineering, CN=CA, DC=vsphere, DC=local",
		Subject:   fmt.Sprintf("C=US, ST=California, L=Palo Alto, O=VMware, OU=VMware Engineering, CN=%s", hs.Name),
		NotBefore: &issued, NotAfter: &expires, Status: "good"}}
	certs.Self = hostObjectRef(hs, "HostCertificateManager", "certificateManager")
	cm.CertificateManager = putHostObject(certs)

	// objects clients reach by reference whose properties a host leaves empty
	empty := []struct {
		field *(*types.ManagedObjectReference)
		obj   mo.Reference
		kind  string
		name  string
	}{
		{&cm.PatchManager, &mo.HostPatchManager{}, "HostPatchManager", "patchManager"},
		{&cm.ImageConfigManager, &mo.HostImageConfigManager{}, "HostImageConfigManager", "imageConfigManager"},
		{&cm.FirmwareSystem, &mo.HostFirmwareSystem{}, "HostFirmwareSystem", "firmwareSystem"},
		{&cm.PciPassthruSystem, &mo.HostPciPassthruSystem{}, "HostPciPassthruSystem", "pciPassthruSystem"},
		{&cm.LicenseManager, &mo.LicenseManager{}, "LicenseManager", "licenseManager"},
		{&cm.KernelModuleSystem, &mo.HostKernelModuleSystem{}, "HostKernelModuleSystem", "kernelModuleSystem"},
		{&cm.IscsiManager, &mo.IscsiManager{}, "IscsiManager", "iscsiManager"},
		{&cm.VFlashManager, &mo.HostVFlashManager{}, "HostVFlashManager", "vFlashManager"},
		{&cm.MessageBusProxy, &mo.MessageBusProxy{}, "MessageBusProxy", "messageBusProxy"},
		{&cm.UserDirectory, &mo.UserDirectory{}, "UserDirectory", "userDirectory"},
		{&cm.AccountManager, &mo.HostLocalAccountManager{}, "HostLocalAccountManager", "localAccountManager"},
		{&cm.VsanInternalSystem, &mo.HostVsanInternalSystem{}, "HostVsanInternalSystem", "vsanInternalSystem"},
	}
	for _, e := range empty {
		setSelf(e.obj, hostObjectRef(hs, e.kind, e.name))
		*e.field = putHostObject(e.obj)
	}
}

// setSelf sets the moref of one of the plain data objects above (mo types keep it in the field
// Self, embedded or their own).
func setSelf(obj mo.Reference, ref types.ManagedObjectReference) {
	reflect.ValueOf(obj).Elem().FieldByName("Self").Set(reflect.ValueOf(ref))
}

// hostHealthRuntime is what the host's CIM providers report on healthy hardware
// (runtime.healthSystemRuntime, HostHealthStatusSystem.runtime): every sensor green.
func hostHealthRuntime() *types.HealthSystemRuntime {
	green := func() *types.ElementDescription {
		return &types.ElementDescription{Description: types.Description{Label: "Green",
			Summary: "Sensor is operating under normal conditions"}, Key: "green"}
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05Z")
	sensor := func(name, id, kind, units string, reading int64, modifier int32) types.HostNumericSensorInfo {
		return types.HostNumericSensorInfo{Name: name, Id: id, HealthState: green(), CurrentReading: reading,
			UnitModifier: modifier, BaseUnits: units, SensorType: kind, TimeStamp: now}
	}
	element := func(name string) types.BaseHostHardwareElementInfo {
		return &types.HostHardwareElementInfo{Name: name, Status: green()}
	}
	return &types.HealthSystemRuntime{
		SystemHealthInfo: &types.HostSystemHealthInfo{NumericSensorInfo: []types.HostNumericSensorInfo{
			sensor("System Board 1 Inlet Temp", "0.32.0", "temperature", "Degrees C", 2300, -2),
			sensor("Processor 1 Temp", "0.14.0", "temperature", "Degrees C", 4800, -2),
			sensor("Processor 2 Temp", "0.15.0", "temperature", "Degrees C", 5100, -2),
			sensor("System Board 1 Fan1A", "0.48.0", "fan", "RPM", 588000, -2),
			sensor("Power Supply 1 PS1 Status", "0.98.0", "power", "", 0, 0),
			sensor("Power Supply 2 PS2 Status", "0.99.0", "power", "", 0, 0),
		}},
		HardwareStatusInfo: &types.HostHardwareStatusInfo{
			MemoryStatusInfo: []types.BaseHostHardwareElementInfo{element("Memory")},
			CpuStatusInfo:    []types.BaseHostHardwareElementInfo{element("CPU socket #0"), element("CPU socket #1")},
		},
	}
}

// hostManagerRefusal is what vCenter answers when a call must reach the host's agent and the host
// is not connected (disconnected, not responding): HostNotConnected.
func hostManagerRefusal(hs *simulator.HostSystem) soap.HasFault {
	if vcConnected(hs) {
		return nil
	}
	return vcFault(&types.HostNotConnected{},
		fmt.Sprintf("Unable to communicate with the remote host, since it is disconnected (%s).", hs.Name))
}
