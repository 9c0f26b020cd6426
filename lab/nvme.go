package main

// NVMe over Fibre Channel: an array that presents NVMe namespaces (topology "protocol": "nvme", access
// "ana"), reported as ESXi reports such devices:
//   - each FC card gets a second adapter for the NVMe protocol (vmhba64 for vmhba2, vmhba65 for vmhba3;
//     HostFibreChannelHba with storageProtocol "nvme", the card's WWNs), as Emulex and QLogic cards
//     with FC-NVMe do; its link is the card's (a pulled cable takes both);
//   - a namespace is a ScsiLun ("eui." + its NGUID, "NVMe Fibre Channel Disk") claimed by the
//     high-performance plug-in (HPP): it has no entry in config.storageDevice.multipathInfo, which lists
//     only NMP devices (API reference, HostMultipathInfo); its paths are in config.multipathState, by
//     runtime name adapter:C0:T<controller>:L<namespace id>;
//   - config.storageDevice.nvmeTopology lists each NVMe adapter's connected controllers (one per array
//     port it reaches; gone while the link or port is down) and the namespaces attached to them
//     (API reference, HostNvmeTopology, HostNvmeController, HostNvmeNamespace);
//   - ANA (asymmetric namespace access): the owning controller's ports are optimized, the other's
//     non-optimized; both report path state "active" (the API has no ANA state; esxcli shows it in the
//     path's config, not in the vSphere API), HPP sends I/O down the optimized ones.
// The namespace is a LUN of the SAN model in every other respect: faults, APD, PDL, events, mounts.

import (
	"fmt"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// apiVersion is the newest vim25 API version the lab speaks (about.apiVersion, /sdk/vimServiceVersions.xml):
// 7.0.3.0, the first whose clients know the NVMe types (HostNvmeTopology and the rest are "since 7.0";
// a client of an older version could not decode them, and a vCenter does not send them to it). The
// simulator says 6.5; govmomi 0.24.2 encodes the 7.0 types.
const apiVersion = "7.0.3.0"

func setAPIVersion(m *simulator.Model) {
	m.ServiceContent.About.ApiVersion = apiVersion
}

const (
	accessANA    = "ana"
	protocolNVMe = "nvme"
)

func (a *array) nvme() bool { return a.spec.Protocol == protocolNVMe }

func (l *lun) nvme() bool { return l.array != nil && l.array.nvme() }

// nvmeDevice is the NVMe adapter of an FC card: ESXi numbers them from vmhba64 in the cards' order
// (vmhba2 -> vmhba64, vmhba3 -> vmhba65), whichever fabric a card is cabled to.
func nvmeDevice(hb *hba) string {
	var n int
	fmt.Sscanf(hb.device, "vmhba%d", &n)
	return fmt.Sprintf("vmhba%d", 62+n)
}

func nvmeKey(hb *hba) string { return "key-vim.host.FibreChannelHba-" + nvmeDevice(hb) }

// euiID is a namespace's device name: "eui." and its 128-bit NGUID (vendor id, array serial, namespace).
func euiID(a *array, id int) string {
	prefix, ok := naaPrefix[a.spec.Vendor]
	if !ok {
		prefix = "60014050"
	}
	return fmt.Sprintf("eui.%s%08x%016x", strings.TrimPrefix(prefix, "6"), a.spec.Serial, uint64(0x6e0000+id))
}

// adoptNVMe gives the namespaces their names and their paths the NVMe adapters' runtime names: T the
// controller (the array port's index on that fabric), L the namespace id. Called at the end of newSAN.
func (s *san) adoptNVMe() {
	for _, l := range s.luns {
		if !l.nvme() {
			continue
		}
		l.canonical = euiID(l.array, l.id)
		l.uuid = fmt.Sprintf("0100%04x0000%s", l.id, strings.TrimPrefix(l.canonical, "eui."))
		l.psp = pspRR // HPP's LB-RR: I/O on every optimized path
		for _, h := range l.hosts {
			for _, p := range h.lunPaths[l] {
				delete(h.pathByName, p.name)
				p.name = fmt.Sprintf("%s:C0:T%d:L%d", nvmeDevice(p.hba), nvmeController(p.target), l.id)
				h.pathByName[p.name] = p
				h.hbaByName[nvmeDevice(p.hba)] = p.hba // a fault on the NVMe adapter is one on its card
			}
		}
	}
}

// nvmeController is the controller number of an array port: its index among the ports of its fabric.
func nvmeController(tg *target) int {
	n := 0
	for _, other := range tg.array.targets {
		if other == tg {
			return n
		}
		if other.port == tg.port {
			n++
		}
	}
	return n
}

// nvmeCards are the host's FC cards that reach an NVMe namespace, in adapter order.
func (s *san) nvmeCards(h *host) []*hba {
	var cards []*hba
	for _, hb := range h.hbas {
		for _, l := range h.luns {
			if l.nvme() && len(h.lunPaths[l]) > 0 && hasPathVia(h.lunPaths[l], hb) {
				cards = append(cards, hb)
				break
			}
		}
	}
	return cards
}

func hasPathVia(paths []*path, hb *hba) bool {
	for _, p := range paths {
		if p.hba == hb {
			return true
		}
	}
	return false
}

// nvmeAdapters are the NVMe adapters of the host's cards (storageProtocol "nvme").
func (s *san) nvmeAdapters(h *host) []types.BaseHostHostBusAdapter {
	var out []types.BaseHostHostBusAdapter
	for _, hb := range s.nvmeCards(h) {
		scsi := s.renderHBA(h, hb).(*types.HostFibreChannelHba)
		nv := *scsi
		nv.Key, nv.Device, nv.StorageProtocol = nvmeKey(hb), nvmeDevice(hb), "nvme"
		out = append(out, &nv)
	}
	return out
}

// nvmeTopology is config.storageDevice.nvmeTopology: per NVMe adapter, the controllers it is connected to
// (a port whose link is down, or which is dead, is not connected) and their namespaces. Nil without NVMe.
func (s *san) nvmeTopology(h *host) *types.HostNvmeTopology {
	cards := s.nvmeCards(h)
	if len(cards) == 0 {
		return nil
	}
	topo := &types.HostNvmeTopology{}
	for _, hb := range cards {
		iface := types.HostNvmeTopologyInterface{Key: "key-vim.host.NvmeTopology.Interface-" + nvmeDevice(hb),
			Adapter: nvmeKey(hb)}
		for _, tg := range hb.targets {
			if !tg.array.nvme() || tg.dead || hb.dead || h.goneTargets[tg.name+"/"+hb.device] {
				continue
			}
			n := nvmeController(tg)
			ctl := types.HostNvmeController{
				Key:               fmt.Sprintf("key-vim.host.NvmeController-%d", 256+16*hb.fabric+n),
				ControllerNumber:  int32(256 + 16*hb.fabric + n),
				Subnqn:            fmt.Sprintf("nqn.1992-08.com.netapp:sn.%08x:subsystem.%s", tg.array.spec.Serial, strings.ToLower(tg.array.name)),
				Name:              fmt.Sprintf("nqn.1992-08.com.netapp:sn.%08x#%s#%s", tg.array.spec.Serial, nvmeDevice(hb), s.formatWWN(tg.wwpn)),
				AssociatedAdapter: nvmeKey(hb),
				TransportType:     "fibreChannel",
				NumberOfQueues:    4,
				QueueSize:         1024,
				VendorId:          "0x1275",
				Model:             tg.array.spec.Model,
				SerialNumber:      fmt.Sprintf("%08x", tg.array.spec.Serial),
				FirmwareVersion:   "9.14.1",
			}
			for _, l := range h.luns {
				if l.array == tg.array {
					ctl.AttachedNamespace = append(ctl.AttachedNamespace, types.HostNvmeNamespace{
						Key: fmt.Sprintf("key-vim.host.NvmeNamespace-%s@%s", l.canonical, ctl.Key), Name: l.canonical,
						Id: int32(l.id), BlockSize: 512, CapacityInBlocks: l.capacity / 512,
					})
				}
			}
			iface.ConnectedController = append(iface.ConnectedController, ctl)
		}
		topo.Adapter = append(topo.Adapter, iface)
	}
	return topo
}
