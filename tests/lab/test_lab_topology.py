"""The lab's default topology as a vSphere client sees it (lab/README.md, "The default topology").

Everything is read through pyVmomi from the SOAP endpoint, and cross-checked between the places a
client may look: HostSystem.config.storageDevice, the host's HostStorageSystem, config.multipathState,
config.fileSystemVolume, Datastore.host/info/summary, VM disk backings; and against the control API's
GET /v1/topology.
"""

from __future__ import annotations

import re

import pytest
from pyVmomi import vim, vmodl

from vsguesttruth.lab import Lab
from vsguesttruth.vcenter import ConnectionSettings, connect

pytestmark = pytest.mark.lab

CLUSTERS = {"cl-a": ["esx-a01", "esx-a02", "esx-a03"], "cl-b": ["esx-b01", "esx-b02", "esx-b03", "esx-b04"]}
ONE_HBA = {"esx-b04": "B"}  # a host cabled to one fabric only (a deliberate single point of failure)
PATH_NAME = re.compile(r"^vmhba(\d+):C0:T(\d+):L(\d+)$")
NAA = re.compile(r"^naa\.[0-9a-f]{16,32}$")


def collect(si, kind, paths):
    """{name: {path: value}} for every object of a kind, in one RetrievePropertiesEx round."""
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        pc = vmodl.query.PropertyCollector
        spec = pc.FilterSpec(
            objectSet=[pc.ObjectSpec(obj=view, skip=True, selectSet=[
                pc.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)])],
            propSet=[pc.PropertySpec(type=kind, pathSet=["name", *paths])],
        )
        result = content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
        objects = list(result.objects)
        while result.token:
            result = content.propertyCollector.ContinueRetrievePropertiesEx(result.token)
            objects += result.objects
    finally:
        view.Destroy()
    out = {}
    for obj in objects:
        props = {p.name: p.val for p in obj.propSet}
        props["obj"] = obj.obj
        out[props["name"]] = props
    return out


@pytest.fixture(scope="module")
def hosts(si):
    return collect(si, vim.HostSystem, [
        "parent", "config.storageDevice", "config.multipathState", "config.fileSystemVolume",
        "configManager.storageSystem", "datastore", "vm", "runtime.connectionState",
    ])


@pytest.fixture(scope="module")
def datastores(si):
    return collect(si, vim.Datastore, ["summary", "info", "host", "vm"])


@pytest.fixture(scope="module")
def vms(si):
    return collect(si, vim.VirtualMachine, ["config.hardware.device", "runtime", "datastore", "snapshot", "config.uuid"])


@pytest.fixture(scope="module")
def topo(lab):
    return lab.topology()


def luns_of(host):
    return {lun.canonicalName: lun for lun in host["config.storageDevice"].scsiLun}


def hba_keys(host):
    return {hba.key: hba for hba in host["config.storageDevice"].hostBusAdapter}


def host_name(si, moref):
    return vim.HostSystem(moref._moId, si._stub).name


# -- compute ------------------------------------------------------------------------------------

def test_clusters_and_hosts(hosts):
    by_cluster = {}
    for name, h in hosts.items():
        assert isinstance(h["parent"], vim.ClusterComputeResource)
        by_cluster.setdefault(h["parent"].name, []).append(name)
        assert h["runtime.connectionState"] == "connected"
    assert {k: sorted(v) for k, v in by_cluster.items()} == CLUSTERS


def fc_devices(name: str) -> tuple[str, ...]:
    """The FC HBAs of a host: one per fabric it is cabled to, vmhba2 first."""
    return ("vmhba2",) if name in ONE_HBA else ("vmhba2", "vmhba3")


def test_hbas_local_and_two_fc_with_own_wwns(hosts, topo):
    wwpns = []
    fabrics = {h["name"]: {a["device"]: a.get("fabric") for a in h["hbas"] if not a.get("protocol")}
               for h in topo["hosts"]}
    for name, h in hosts.items():
        hbas = {a.device: a for a in h["config.storageDevice"].hostBusAdapter if a.storageProtocol != "nvme"}
        assert set(hbas) == {"vmhba0", *fc_devices(name)}
        nvme = {a.device: a for a in h["config.storageDevice"].hostBusAdapter if a.storageProtocol == "nvme"}
        for dev, card in (("vmhba64", "vmhba2"), ("vmhba65", "vmhba3")):  # the cards' FC-NVMe adapters (cl-b)
            if dev in nvme:
                assert nvme[dev].portWorldWideName == hbas[card].portWorldWideName
        assert not isinstance(hbas["vmhba0"], vim.host.FibreChannelHba)
        assert fabrics[name] == {"vmhba0": None, **({"vmhba2": ONE_HBA[name]} if name in ONE_HBA
                                                    else {"vmhba2": "A", "vmhba3": "B"})}
        for dev in fc_devices(name):
            fc = hbas[dev]
            assert isinstance(fc, vim.host.FibreChannelHba)
            assert fc.status == "online"
            assert fc.portWorldWideName and fc.nodeWorldWideName
            assert fc.key == f"key-vim.host.FibreChannelHba-{dev}"
            wwpns.append(fc.portWorldWideName)
    assert len(wwpns) == len(set(wwpns)) == 13, "every FC HBA has its own WWPN"


# -- LUNs ---------------------------------------------------------------------------------------

def test_array_luns_shared_across_hosts(hosts, topo):
    array_luns = {lun["canonical_name"]: lun for lun in topo["luns"]}
    for name, h in hosts.items():
        luns = luns_of(h)
        for canonical, lun in luns.items():
            assert NAA.match(canonical) or canonical.startswith("eui."), canonical  # eui: the NVMe namespace
            assert isinstance(lun, vim.host.ScsiDisk)
            assert lun.lunType == "disk"
            assert lun.uuid and lun.vendor and lun.model and lun.displayName
            assert lun.operationalState == ["ok"]
            assert lun.capacity.block * lun.capacity.blockSize > 0
            if canonical in array_luns:
                expected = array_luns[canonical]
                assert lun.uuid == expected["uuid"], "the same LUN has the same uuid on every host"
                assert lun.ssd == expected["ssd"]
                assert lun.localDisk is False
                assert name in expected["hosts"]
            else:
                assert lun.localDisk is True, f"{canonical} on {name} is neither an array LUN nor local"
        seen = {c for c in luns if c in array_luns}
        assert seen == {c for c, lun in array_luns.items() if name in lun["hosts"]}


def test_media_vaai_and_presentation(hosts, topo):
    by_name = {lun["name"]: lun for lun in topo["luns"]}
    a01 = luns_of(hosts["esx-a01"])
    gold = a01[by_name["gold01"]["canonical_name"]]
    silver = a01[by_name["silver01"]["canonical_name"]]
    assert gold.ssd is True and gold.vStorageSupport == "vStorageSupported"
    assert silver.ssd is False and silver.vStorageSupport == "vStorageUnsupported"
    bronze = by_name["bronze01"]["canonical_name"]
    for name, h in hosts.items():
        assert (bronze in luns_of(h)) == name.startswith("esx-b"), "bronze01 is presented to cl-b only"


def test_alua_paths(hosts, topo):
    """Each array presents its LUNs as its kind does: asymmetric ALUA (the owning controller's ports
    active/optimized, the other's active/non-optimized), ALUA with a standby controller, or symmetric
    active/active; the SATP and path selection policy are the topology's."""
    targets = {t["name"]: t for t in topo["targets"]}
    arrays = {a["name"]: a for a in topo["arrays"]}
    by_canonical = {lun["canonical_name"]: lun for lun in topo["luns"]}
    target_wwpn = {int(t["wwpn"].replace(":", ""), 16): t for t in targets.values()}
    hba_fabric = {h["name"]: {a["device"]: a.get("fabric") for a in h["hbas"] if not a.get("protocol")}
                  for h in topo["hosts"]}
    assert {a["access"] for a in arrays.values()} == {"alua", "alua_standby", "active_active", "ana"}
    for name, h in hosts.items():
        sd = h["config.storageDevice"]
        luns = {lun.key: lun for lun in sd.scsiLun}
        hbas = hba_keys(h)
        for lu in sd.multipathInfo.lun:
            lun = luns[lu.lun]
            assert lu.id == lun.uuid
            if lun.localDisk:
                assert [p.name for p in lu.path] == ["vmhba0:C0:T0:L0"]
                assert (lu.policy.policy, lu.storageArrayTypePolicy.policy) == ("VMW_PSP_FIXED", "VMW_SATP_LOCAL")
                continue
            spec = by_canonical[lun.canonicalName]
            access = arrays[spec["array"]]["access"]
            assert lu.policy.policy == spec["path_policy"] and lu.storageArrayTypePolicy.policy == spec["satp"]
            assert spec["satp"] == ("VMW_SATP_DEFAULT_AA" if access == "active_active" else "VMW_SATP_ALUA")
            cabled = [d for d, f in hba_fabric[name].items() if f in spec["fabrics"]]
            assert len(lu.path) == 2 * len(cabled), f"{name} {lun.canonicalName}: 2 controllers x {cabled}"
            owner = {p.name: target_wwpn[p.transport.portWorldWideName]["controller"] == spec["owner_controller"]
                     for p in lu.path}
            for p in lu.path:
                m = PATH_NAME.match(p.name)
                assert m and m.group(1) in ("2", "3")
                assert p.state == p.pathState
                assert p.lun == lu.key
                assert hbas[p.adapter].device == f"vmhba{m.group(1)}"
                assert isinstance(p.transport, vim.host.FibreChannelTargetTransport)
                target = target_wwpn[p.transport.portWorldWideName]
                fabric = hba_fabric[name][f"vmhba{m.group(1)}"]
                assert "AB"[target["port"]] == fabric, "an HBA reaches the ports of its fabric: A is port 0, B port 1"
                expected = "standby" if access == "alua_standby" and not owner[p.name] else "active"
                assert p.pathState == expected, (name, p.name, access)
                assert not p.isWorkingPath or p.pathState == "active"
            working = {p.name for p in lu.path if p.isWorkingPath}
            optimized = {n for n, o in owner.items() if o or access == "active_active"}
            if spec["path_policy"] == "VMW_PSP_RR":
                assert working == optimized, (name, lun.canonicalName)  # Round Robin: every optimized path
            else:
                assert len(working) == 1 and working <= optimized, (name, lun.canonicalName)  # MRU, Fixed: one
            if spec["path_policy"] == "VMW_PSP_FIXED":
                assert lu.policy.prefer in working


def test_multipath_state_matches_multipath_info(hosts):
    for h in hosts.values():
        info = {p.name: p.pathState for lu in h["config.storageDevice"].multipathInfo.lun for p in lu.path}
        state = {p.name: p.pathState for p in h["config.multipathState"].path}
        # multipathState lists every plug-in's paths; multipathInfo NMP's only: the NVMe namespace's are extra
        assert {n: s for n, s in state.items() if not n.startswith(("vmhba64:", "vmhba65:"))} == info


def test_storage_system_matches_host_config(si, hosts):
    for h in hosts.values():
        ss = h["configManager.storageSystem"]
        assert isinstance(ss, vim.host.StorageSystem)
        sdi = ss.storageDeviceInfo
        cfg = h["config.storageDevice"]
        assert [lun.canonicalName for lun in sdi.scsiLun] == [lun.canonicalName for lun in cfg.scsiLun]
        assert [a.key for a in sdi.hostBusAdapter] == [a.key for a in cfg.hostBusAdapter]
        assert [(p.name, p.pathState) for lu in sdi.multipathInfo.lun for p in lu.path] == \
            [(p.name, p.pathState) for lu in cfg.multipathInfo.lun for p in lu.path]
        assert [(p.name, p.pathState) for p in ss.multipathStateInfo.path] == \
            [(p.name, p.pathState) for p in h["config.multipathState"].path]
        assert [m.volume.name for m in ss.fileSystemVolumeInfo.mountInfo] == \
            [m.volume.name for m in h["config.fileSystemVolume"].mountInfo]


def test_scsi_topology(hosts):
    for h in hosts.values():
        sd = h["config.storageDevice"]
        lun_keys = {lun.key for lun in sd.scsiLun if not lun.canonicalName.startswith("eui.")}  # NVMe: nvmeTopology
        hbas = hba_keys(h)
        seen = set()
        for iface in sd.scsiTopology.adapter:
            assert iface.adapter in hbas
            for target in iface.target:
                for lun in target.lun:
                    assert lun.scsiLun in lun_keys
                    seen.add(lun.scsiLun)
        assert seen == lun_keys


# -- datastores ---------------------------------------------------------------------------------

def test_vmfs_datastores_and_extents(si, hosts, datastores):
    for name, ds in datastores.items():
        if ds["summary"].type != "VMFS":
            continue
        info = ds["info"]
        assert isinstance(info, vim.host.VmfsDatastoreInfo)
        extents = [e.diskName for e in info.vmfs.extent]
        assert extents and all(NAA.match(e) or e.startswith("eui.") for e in extents)
        mounts = {host_name(si, m.key): m for m in ds["host"]}
        assert mounts, f"{name} is mounted nowhere"
        for hname, mount in mounts.items():
            assert mount.mountInfo.mounted and mount.mountInfo.accessible
            h = hosts[hname]
            assert set(extents) <= set(luns_of(h)), f"{hname} mounts {name} but does not see its extents"
            assert ds["obj"] in h["datastore"]
            vols = {m.volume.name: m for m in h["config.fileSystemVolume"].mountInfo}
            vol = vols[name]
            assert isinstance(vol.volume, vim.host.VmfsVolume)
            assert vol.volume.uuid == info.vmfs.uuid
            assert [e.diskName for e in vol.volume.extent] == extents
            assert vol.mountInfo.path == mount.mountInfo.path
        assert ds["summary"].accessible is True
    assert len(datastores["ds-span"]["info"].vmfs.extent) == 2, "ds-span spans two LUNs"


def test_datastore_host_lists_every_host(si, hosts, datastores):
    """vCenter lists every host that mounts a datastore in datastore.host (the stock simulator kept one)."""
    all_hosts = set(hosts)
    assert {host_name(si, m.key) for m in datastores["ds-gold"]["host"]} == all_hosts
    assert {host_name(si, m.key) for m in datastores["nfs01"]["host"]} == all_hosts
    assert {host_name(si, m.key) for m in datastores["ds-bronze"]["host"]} == set(CLUSTERS["cl-b"])
    for hname, h in hosts.items():
        for ds_ref in h["datastore"]:
            ds = datastores[ds_ref.name]
            assert hname in {host_name(si, m.key) for m in ds["host"]}


def test_local_datastore_per_host(si, hosts, datastores):
    for hname, h in hosts.items():
        ds = datastores[f"local-{hname}"]
        assert [host_name(si, m.key) for m in ds["host"]] == [hname]
        (extent,) = ds["info"].vmfs.extent
        assert luns_of(h)[extent.diskName].localDisk is True
        assert ds["info"].vmfs.local is True


def test_nfs_datastore(datastores, hosts):
    ds = datastores["nfs01"]
    assert ds["summary"].type == "NFS"
    assert isinstance(ds["info"], vim.host.NasDatastoreInfo)
    assert ds["info"].nas.remoteHost and ds["info"].nas.remotePath.startswith("/")
    for h in hosts.values():
        vols = {m.volume.name: m.volume for m in h["config.fileSystemVolume"].mountInfo}
        assert isinstance(vols["nfs01"], vim.host.NasVolume)


def test_replica_array(topo, datastores):
    dss = {d["name"]: d for d in topo["datastores"]}
    assert dss["ds-gold"]["replica"] == "ds-gold-replica"
    assert dss["ds-gold-replica"]["replica_of"] == "ds-gold"
    luns = {lun["name"]: lun for lun in topo["luns"]}
    assert luns["gold01-r"]["array"] == "B" and luns["gold01-r"]["replica_of"] == "gold01"
    assert luns["gold01"]["array"] == "A"
    replica_extents = [e.diskName for e in datastores["ds-gold-replica"]["info"].vmfs.extent]
    assert replica_extents == [luns["gold01-r"]["canonical_name"]]
    assert replica_extents != [e.diskName for e in datastores["ds-gold"]["info"].vmfs.extent]


# -- VMs ----------------------------------------------------------------------------------------

def disks(vm):
    return [d for d in vm["config.hardware.device"] if isinstance(d, vim.vm.device.VirtualDisk)]


def test_vms_placed_powered_on_with_disks(si, vms, hosts, datastores):
    assert 18 <= len(vms) <= 24
    controllers = set()
    for name, vm in vms.items():
        assert vm["runtime"].powerState == "poweredOn"
        host = host_name(si, vm["runtime"].host)
        h = hosts[host]
        assert vm["obj"] in h["vm"]
        ds_names = {d.name for d in vm["datastore"]}
        assert ds_names <= {d.name for d in h["datastore"]}, f"{name} uses a datastore its host does not mount"
        for ds in ds_names:
            assert vm["obj"] in datastores[ds]["vm"]
        by_key = {d.key: d for d in vm["config.hardware.device"]}
        vdisks = disks(vm)
        assert 1 <= len(vdisks) <= 3
        for disk in vdisks:
            ctl = by_key[disk.controllerKey]
            assert isinstance(ctl, (vim.vm.device.ParaVirtualSCSIController, vim.vm.device.VirtualLsiLogicController))
            controllers.add(type(ctl).__name__)
            assert disk.unitNumber is not None and disk.unitNumber != 7
            assert disk.backing.uuid
            assert disk.key in ctl.device
    assert controllers == {"vim.vm.device.ParaVirtualSCSIController", "vim.vm.device.VirtualLsiLogicController"}


def test_physical_rdm(si, vms, hosts, topo):
    rdm01 = {lun["name"]: lun for lun in topo["luns"]}["rdm01"]
    vm = vms["db01"]
    rdms = [d for d in disks(vm) if isinstance(d.backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)]
    assert len(rdms) == 1
    b = rdms[0].backing
    assert b.compatibilityMode == "physicalMode"
    assert b.lunUuid == rdm01["uuid"]
    assert b.deviceName == f"/vmfs/devices/disks/{rdm01['canonical_name']}"
    assert b.fileName.startswith("[") and b.datastore is not None
    host = hosts[host_name(si, vm["runtime"].host)]
    lun = luns_of(host)[rdm01["canonical_name"]]
    assert lun.uuid == b.lunUuid, "lunUuid names the ScsiLun.uuid the VM's host reports"


def test_snapshot_delta_chain(vms, datastores):
    vm = vms["app03"]
    chain_disk = [d for d in disks(vm) if d.backing.parent is not None]
    assert len(chain_disk) == 1
    files, dss = [], []
    backing = chain_disk[0].backing
    while backing is not None:
        assert isinstance(backing, vim.vm.device.VirtualDisk.FlatVer2BackingInfo)
        files.append(backing.fileName)
        dss.append(backing.datastore.name)
        backing = backing.parent
    assert len(files) == 3
    assert re.search(r"-00000[12]\.vmdk$", files[0]) and re.search(r"-000001\.vmdk$", files[1])
    assert dss == ["ds-gold", "ds-gold", "ds-silver"], "deltas in the VM home, base disk on ds-silver"
    assert {"ds-gold", "ds-silver"} <= {d.name for d in vm["datastore"]}
    snap = vm["snapshot"]
    assert snap is not None and len(snap.rootSnapshotList) == 1
    assert len(snap.rootSnapshotList[0].childSnapshotList) == 1
    assert snap.currentSnapshot == snap.rootSnapshotList[0].childSnapshotList[0].snapshot


def test_control_topology_matches_vcenter(si, topo, hosts, vms):
    for th in topo["hosts"]:
        h = hosts[th["name"]]
        assert h["obj"]._moId == th["moref"]
        vc_paths = {p.name: p.pathState for p in h["config.multipathState"].path}
        assert {p["name"]: p["state"] for p in th["paths"]} == vc_paths
        assert {hba["device"] for hba in th["hbas"] if not hba.get("protocol")} == {"vmhba0", *fc_devices(th["name"])}
    assert {v["name"] for v in topo["vms"]} == set(vms)
    for tv in topo["vms"]:
        assert tv["moref"] == vms[tv["name"]]["obj"]._moId
        assert tv["host"] == host_name(si, vms[tv["name"]]["runtime"].host)
    assert {t["name"] for t in topo["targets"]} >= {"A-ctl0-p0", "A-ctl0-p1", "A-ctl1-p0", "A-ctl1-p1"}


def test_the_deliberate_single_points_of_failure(topo):
    """edge01 (ds-edge, under log12) is masked to fabric A's ports; esx-b04 is cabled to fabric B only, by one
    HBA: the audit's examples of a LUN on one fabric, a host with one HBA and a LUN missing from a host."""
    edge = next(lun for lun in topo["luns"] if lun["name"] == "edge01")
    assert edge["fabrics"] == ["A"] and edge["datastore"] == "ds-edge"
    assert sorted(edge["hosts"]) == ["esx-a01", "esx-a02", "esx-a03", "esx-b01", "esx-b02", "esx-b03"]
    targets = {t["name"]: t for t in topo["targets"]}
    for h in topo["hosts"]:
        to_edge = [p for p in h["paths"] if p["lun"] == "edge01"]
        assert all(p["hba"] == "vmhba2" and targets[p["target"]]["port"] == 0 for p in to_edge)
        assert len(to_edge) == (0 if h["name"] == "esx-b04" else 2)
    b04 = next(h for h in topo["hosts"] if h["name"] == "esx-b04")
    assert {p["hba"] for p in b04["paths"]} == {"vmhba0", "vmhba2", "vmhba64"}  # vmhba64: its card's FC-NVMe adapter
    assert {targets[p["target"]]["port"] for p in b04["paths"] if p["target"]} == {1}
    fabrics = {f["name"]: f for f in topo["fabrics"]}
    assert "esx-b04/vmhba2" in fabrics["B"]["hbas"] and len(fabrics["A"]["hbas"]) == 6 and len(fabrics["B"]["hbas"]) == 7
    log12 = next(v for v in topo["vms"] if v["name"] == "log12")
    assert log12["host"] == "esx-b02" and log12["disks"][0]["datastores"] == ["ds-edge"]


# -- the scaled topology (--hosts/--vms) -----------------------------------------------------------
# No VMFS volume is shared by more than 64 hosts (vSphere's "Hosts per volume"), so past 64 hosts the LUNs
# and VMFS datastores repeat per storage domain of two clusters (lab/README.md, "The binary").

HOSTS, VMS = 130, 260  # five clusters of up to 32: three domains (64, 64, 2 hosts)


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("domains"))
    info = lab.up(hosts=HOSTS, vms=VMS, timing=False)
    conn = connect(ConnectionSettings(url=info.url, username=info.username, password=info.password,
                                      ca_file=info.cert))
    try:
        si = conn.si
        yield (collect(si, vim.HostSystem, ["parent", "config.storageDevice.scsiLun", "datastore"]),
               collect(si, vim.Datastore, ["summary.type", "host", "info"]),
               collect(si, vim.VirtualMachine, ["runtime.host", "datastore"]))
    finally:
        conn.close()
        lab.down()


def test_no_vmfs_volume_is_shared_by_more_than_64_hosts(scaled):
    hosts, datastores, _ = scaled
    shared = {n: d for n, d in datastores.items() if d["summary.type"] == "VMFS" and not n.startswith("local-")}
    assert shared and max(len(d["host"]) for d in shared.values()) == 64
    assert {len(d["host"]) for d in shared.values()} == {64, 2}
    assert len(datastores["nfs01"]["host"]) == HOSTS  # NFS exports have no per-volume maximum


def test_each_domain_has_its_own_luns_and_every_host_sees_the_same_count(scaled):
    hosts, datastores, _ = scaled
    naa_by_domain: dict[str, set[str]] = {}
    for h in hosts.values():
        array = {lun.canonicalName for lun in h["config.storageDevice.scsiLun"] if not lun.localDisk}
        assert len(array) == 9
        mounted = {ds.name for ds in h["datastore"] if ds.name.startswith("ds-")}
        (domain,) = {n.rsplit("-", 1)[1] for n in mounted}
        naa_by_domain.setdefault(domain, set()).update(array)
    assert sorted(naa_by_domain) == ["d01", "d02", "d03"]
    ids = [naa for luns in naa_by_domain.values() for naa in luns]
    assert len(ids) == len(set(ids)) == 27  # no LUN crosses a domain


def test_every_vm_disk_is_on_a_datastore_its_host_mounts(scaled):
    hosts, datastores, vms = scaled
    mounted_on = {n: {m.key._moId for m in d["host"]} for n, d in datastores.items()}
    assert len(vms) == VMS
    for vm in vms.values():
        for ds in vm["datastore"]:
            assert vm["runtime.host"]._moId in mounted_on[ds.name]
