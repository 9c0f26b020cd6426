package main

// HostSystem: hardware, capability and quick statistics of a rack server, not of the simulator's
// nested ESXi (2 vCPUs, 4 GB, "VMware Virtual Platform", capability unset).
//
// Every host is a Dell PowerEdge R740 with two Intel Xeon Gold 6246R (16 cores, 32 threads, 3.4 GHz
// each), 512 GiB of memory in two NUMA nodes, and the adapters the SAN model gives it: the Dell
// HBA330 Mini (LSI SAS3008) of the local disk, two single-port Emulex LPe32000 FC cards, a
// dual-port Intel XXV710 25 GbE NIC and the onboard Matrox VGA, each in hardware.pciDevice at the
// PCI address its adapter reports (hostBusAdapter.pci, pnic.pci). The service tag is
// hardware.systemInfo.serialNumber and the ServiceTag entry of otherIdentifyingInfo (what Ansible's
// vmware_host_facts reports as the serial). summary.hardware says the same in short.
//
// capability holds what an ESXi host reports for the API's HostCapability (vMotion, Storage
// vMotion, SAN/NFS/iSCSI, maintenance mode, FT, ... supported; ESXi 8's configuration maximums:
// 1024 running VMs, 4096 vCPUs per host; 248 disks per Storage vMotion), where the simulator sets
// none. summary.quickStats: a host that has been up for weeks and runs its VMs.

import (
	"fmt"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	hostSockets       = 2
	hostCoresPerCPU   = 16
	hostMemory        = int64(512) << 30
	hostCPUMhz        = 3392 // what ESXi measures for a 3.40 GHz part
	hostCPUModel      = "Intel(R) Xeon(R) Gold 6246R CPU @ 3.40GHz"
	hostVendor        = "Dell Inc."
	hostModel         = "PowerEdge R740"
	hostUptimeSeconds = 37 * 24 * 3600
)

// hostSlot: the host's cluster number and its number within the cluster (from 0).
func (s *san) hostSlot(h *host) (cluster, index int) {
	for ci, name := range s.clusterOrder {
		if name != h.cluster {
			continue
		}
		for hi, x := range s.clusterHosts[name] {
			if x == h {
				return ci, hi
			}
		}
	}
	return 0, h.index
}

// hostServiceTag is a Dell service tag: seven letters and digits, derived from the host's name.
func hostServiceTag(name string) string {
	const alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZ"
	sum := hexHash("service-tag", name)
	tag := make([]byte, 7)
	for i := range tag {
		var v int
		fmt.Sscanf(sum[2*i:2*i+2], "%02x", &v)
		tag[i] = alphabet[v%len(alphabet)]
	}
	return string(tag)
}

func pciVendor(v uint16) int16 { return int16(v) } // the API's shorts: 0x8086 reads -32634

// hostPCIDevices lists the adapters the host reports elsewhere, at their PCI addresses.
func hostPCIDevices(h *host) []types.HostPciDevice {
	dev := func(id string, class, vendor, device uint16, vendorName, deviceName string) types.HostPciDevice {
		var bus, slot, fn int
		fmt.Sscanf(id, "0000:%02x:%02x.%d", &bus, &slot, &fn)
		return types.HostPciDevice{Id: id, ClassId: pciVendor(class), Bus: byte(bus), Slot: byte(slot), Function: byte(fn),
			VendorId: pciVendor(vendor), SubVendorId: pciVendor(0x1028), VendorName: vendorName,
			DeviceId: pciVendor(device), DeviceName: deviceName}
	}
	out := []types.HostPciDevice{
		dev("0000:03:00.0", 0x0300, 0x102b, 0x0536, "Matrox Electronics Systems Ltd.", "Integrated Matrox G200eW3 Graphics Controller"),
	}
	for _, hb := range h.hbas {
		if hb.fabric < 0 {
			out = append(out, dev(hb.pci, 0x0107, 0x1000, 0x0097, "Broadcom", "Dell HBA330 Mini"))
		} else {
			out = append(out, dev(hb.pci, 0x0c04, 0x10df, 0xe300, "Emulex Corporation", "LPe32000 PCIe Fibre Channel Adapter"))
		}
	}
	for n := 0; n < hostUplinks; n++ {
		out = append(out, dev(fmt.Sprintf("0000:19:00.%d", n), 0x0200, 0x8086, 0x158b, "Intel(R)",
			"Ethernet Controller XXV710 for 25GbE SFP28"))
	}
	return out
}

// setHostHardware gives the host its hardware, capability and quick stats (before the cluster
// adds up its hosts' resources).
func setHostHardware(hs *simulator.HostSystem, h *host) {
	tag := hostServiceTag(h.name)
	threads := int16(hostSockets * hostCoresPerCPU * 2)
	ids := []types.HostSystemIdentificationInfo{
		{IdentifierValue: " No Asset Tag", IdentifierType: &types.ElementDescription{
			Description: types.Description{Label: "Asset Tag", Summary: "Asset tag of the system"}, Key: "AssetTag"}},
		{IdentifierValue: tag, IdentifierType: &types.ElementDescription{
			Description: types.Description{Label: "Service tag", Summary: "Service tag of the system"}, Key: "ServiceTag"}},
		{IdentifierValue: "Dell System", IdentifierType: &types.ElementDescription{
			Description: types.Description{Label: "OEM specific string", Summary: "OEM specific string"}, Key: "OemSpecificString"}},
	}
	hz := int64(hostCPUMhz) * 1000000
	var pkgs []types.HostCpuPackage
	var nodes []types.HostNumaNode
	for p := 0; p < hostSockets; p++ {
		var threadIDs []int16
		for t := 0; t < hostCoresPerCPU*2; t++ {
			threadIDs = append(threadIDs, int16(p*hostCoresPerCPU*2+t))
		}
		pkgs = append(pkgs, types.HostCpuPackage{Index: int16(p), Vendor: "intel", Hz: hz, BusHz: 99999000,
			Description: hostCPUModel, ThreadId: threadIDs})
		nodes = append(nodes, types.HostNumaNode{TypeId: byte(p), CpuID: threadIDs,
			MemoryRangeBegin: int64(p) * hostMemory / hostSockets, MemoryRangeLength: hostMemory / hostSockets})
	}
	bios := time.Date(2023, 6, 5, 0, 0, 0, 0, time.UTC)
	hw := hs.Hardware
	hw.SystemInfo = types.HostSystemInfo{Vendor: hostVendor, Model: hostModel, Uuid: hw.SystemInfo.Uuid,
		OtherIdentifyingInfo: ids, SerialNumber: tag}
	hw.CpuInfo = types.HostCpuInfo{NumCpuPackages: hostSockets, NumCpuCores: hostSockets * hostCoresPerCPU,
		NumCpuThreads: threads, Hz: hz}
	hw.CpuPkg = pkgs
	hw.MemorySize = hostMemory
	hw.NumaInfo = &types.HostNumaInfo{Type: "NUMA", NumNodes: hostSockets, NumaNode: nodes}
	hw.PciDevice = hostPCIDevices(h)
	hw.BiosInfo = &types.HostBIOSInfo{BiosVersion: "2.19.1", ReleaseDate: &bios, Vendor: hostVendor,
		MajorRelease: 2, MinorRelease: 19}

	sum := hs.Summary.Hardware
	sum.Vendor, sum.Model, sum.OtherIdentifyingInfo = hostVendor, hostModel, ids
	sum.MemorySize, sum.CpuModel, sum.CpuMhz = hostMemory, hostCPUModel, hostCPUMhz
	sum.NumCpuPkgs, sum.NumCpuCores, sum.NumCpuThreads = hostSockets, hostSockets*hostCoresPerCPU, threads
	sum.NumNics, sum.NumHBAs = hostUplinks, int32(len(h.hbas))

	hs.Capability = hostCapability()

	boot := time.Now().Add(-hostUptimeSeconds * time.Second)
	hs.Runtime.BootTime = &boot
	hs.Summary.QuickStats = types.HostListSummaryQuickStats{
		OverallCpuUsage:           2417,
		OverallMemoryUsage:        48213,
		DistributedCpuFairness:    10000,
		DistributedMemoryFairness: 10000,
		Uptime:                    hostUptimeSeconds,
	}
}

func hostCapability() *types.HostCapability {
	yes := types.NewBool(true)
	no := types.NewBool(false)
	return &types.HostCapability{
		RecursiveResourcePoolsSupported:          true,
		CpuMemoryResourceConfigurationSupported:  true,
		RebootSupported:                          true,
		ShutdownSupported:                        true,
		VmotionSupported:                         true,
		StandbySupported:                         true,
		IpmiSupported:                            yes,
		MaxSupportedVMs:                          0, // unset on ESXi: see maxRunningVMs
		MaxRunningVMs:                            1024,
		MaxSupportedVcpus:                        4096,
		MaxRegisteredVMs:                         4096,
		DatastorePrincipalSupported:              false,
		SanSupported:                             true,
		NfsSupported:                             true,
		IscsiSupported:                           true,
		VlanTaggingSupported:                     true,
		NicTeamingSupported:                      true,
		HighGuestMemSupported:                    true,
		MaintenanceModeSupported:                 true,
		SuspendedRelocateSupported:               true,
		RestrictedSnapshotRelocateSupported:      true,
		PerVmSwapFiles:                           true,
		LocalSwapDatastoreSupported:              true,
		UnsharedSwapVMotionSupported:             true,
		BackgroundSnapshotsSupported:             false,
		PreAssignedPCIUnitNumbersSupported:       true,
		ScreenshotSupported:                      true,
		ScaledScreenshotSupported:                true,
		StorageVMotionSupported:                  yes,
		VmotionWithStorageVMotionSupported:       yes,
		VmotionAcrossNetworkSupported:            yes,
		MaxNumDisksSVMotion:                      248,
		HbrNicSelectionSupported:                 yes,
		VrNfcNicSelectionSupported:               yes,
		RecordReplaySupported:                    no,
		FtSupported:                              yes,
		SmpFtSupported:                           yes,
		MaxVcpusPerFtVm:                          8,
		LoginBySSLThumbprintSupported:            yes,
		CloneFromSnapshotSupported:               yes,
		DeltaDiskBackingsSupported:               yes,
		PerVMNetworkTrafficShapingSupported:      no,
		TpmSupported:                             yes,
		TpmVersion:                               "2.0",
		TxtEnabled:                               no,
		VirtualExecUsageSupported:                yes,
		StorageIORMSupported:                     yes,
		VmDirectPathGen2Supported:                yes,
		SupportedVmfsMajorVersion:                []int32{5, 6},
		VStorageCapable:                          yes,
		SnapshotRelayoutSupported:                yes,
		FirewallIpRulesSupported:                 yes,
		ServicePackageInfoSupported:              yes,
		MaxHostRunningVms:                        1024,
		MaxHostSupportedVcpus:                    4096,
		VmfsDatastoreMountCapable:                yes,
		EightPlusHostVmfsSharedAccessSupported:   yes,
		NestedHVSupported:                        yes,
		VPMCSupported:                            yes,
		InterVMCommunicationThroughVMCISupported: no,
		ScheduledHardwareUpgradeSupported:        yes,
		FeatureCapabilitiesSupported:             yes,
		LatencySensitivitySupported:              yes,
		StoragePolicySupported:                   yes,
		Accel3dSupported:                         yes,
		ReliableMemoryAware:                      yes,
		MultipleNetworkStackInstanceSupported:    yes,
		MessageBusProxySupported:                 yes,
		VsanSupported:                            yes,
		VFlashSupported:                          no,
		HostAccessManagerSupported:               yes,
		ProvisioningNicSelectionSupported:        yes,
		Nfs41Supported:                           yes,
		Nfs41Krb5iSupported:                      yes,
		TurnDiskLocatorLedSupported:              yes,
		VirtualVolumeDatastoreSupported:          yes,
		MarkAsSsdSupported:                       yes,
		MarkAsLocalSupported:                     yes,
		SmartCardAuthenticationSupported:         yes,
		PMemSupported:                            yes,
		PMemSnapshotSupported:                    yes,
		CryptoSupported:                          yes,
		OneKVolumeAPIsSupported:                  yes,
		GatewayOnNicSupported:                    yes,
		UpitSupported:                            no,
		CpuHwMmuSupported:                        yes,
		EncryptedVMotionSupported:                yes,
		EncryptionChangeOnAddRemoveSupported:     yes,
		EncryptionHotOperationSupported:          yes,
		EncryptionWithSnapshotsSupported:         yes,
		EncryptionFaultToleranceSupported:        yes,
		EncryptionMemorySaveSupported:            yes,
		EncryptionRDMSupported:                   no,
		EncryptionVFlashSupported:                no,
		EncryptionCBRCSupported:                  no,
		EncryptionHBRSupported:                   yes,
		FtEfiSupported:                           yes,
		UnmapMethodSupported:                     "dynamic",
		MaxMemMBPerFtVm:                          131072,
		VirtualMmuUsageIgnored:                   yes,
		VirtualExecUsageIgnored:                  yes,
		VmCreateDateSupported:                    yes,
		Vmfs3EOLSupported:                        yes,
		FtVmcpSupported:                          yes,
		QuickBootSupported:                       yes,
		AssignableHardwareSupported:              yes,
		UseFeatureReqsForOldHWv:                  yes,
		MarkPerenniallyReservedSupported:         yes,
		HppPspSupported:                          yes,
		DeviceRebindWithoutRebootSupported:       yes,
		StoragePolicyChangeSupported:             yes,
		PrecisionTimeProtocolSupported:           yes,
		RemoteDeviceVMotionSupported:             yes,
		MaxSupportedVmMemory:                     25149440, // MB: 24 TB
	}
}
