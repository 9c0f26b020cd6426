"""Per-host objects and plausible hardware (lab/README.md: host_config_manager.go, host_system.go,
host_service_system.go, host_date_time_system.go, host_vsan_system.go, host_network_system.go,
cluster_compute_resource.go), through pyVmomi."""

from __future__ import annotations

import datetime
import ssl
from urllib.parse import urlparse

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

pytestmark = pytest.mark.lab

# configManager properties whose object the lab makes per host (advancedOption: option_manager.go)
MANAGERS = ("cpuScheduler", "datastoreSystem", "memoryManager", "storageSystem", "networkSystem", "vmotionSystem",
            "virtualNicManager", "serviceSystem", "firewallSystem", "diagnosticSystem", "autoStartManager",
            "snmpSystem", "dateTimeSystem", "patchManager", "imageConfigManager", "firmwareSystem",
            "healthStatusSystem", "pciPassthruSystem", "licenseManager", "kernelModuleSystem",
            "authenticationManager", "powerSystem", "cacheConfigurationManager", "iscsiManager", "vFlashManager",
            "vsanSystem", "messageBusProxy", "userDirectory", "accountManager", "hostAccessManager",
            "graphicsManager", "vsanInternalSystem", "certificateManager")


def _hosts(si) -> dict:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    try:
        return {h.name: h for h in view.view}
    finally:
        view.Destroy()


def _retrieve_all(si, obj):
    """Every property of obj through the PropertyCollector (ManagedObjectNotFound if it does not exist)."""
    pc = si.RetrieveContent().propertyCollector
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=obj)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=type(obj), all=True)])
    return pc.RetrieveContents([spec])


def test_every_config_manager_object_exists_per_host(si):
    hosts = _hosts(si)
    seen: dict[str, set[str]] = {}
    for host in hosts.values():
        cm = host.configManager
        for name in MANAGERS:
            ref = getattr(cm, name)
            assert ref is not None, name
            seen.setdefault(name, set()).add(ref._moId)
            assert _retrieve_all(si, ref)[0].obj == ref, name
        assert cm.serviceSystem._moId.endswith("-" + host._moId.split("-")[-1])  # vCenter: <name>-<host number>
    for name, refs in seen.items():
        assert len(refs) == len(hosts), f"{name} is shared between hosts"


def test_service_system_lists_esxi_services(si):
    host = _hosts(si)["esx-a01"]
    services = {s.key: s for s in host.configManager.serviceSystem.serviceInfo.service}
    assert {"DCUI", "TSM", "TSM-SSH", "ntpd", "vpxa", "vmsyslogd", "lbtd"} <= set(services)
    assert services["vpxa"].running and services["ntpd"].running and services["ntpd"].policy == "on"
    assert not services["TSM-SSH"].running and services["TSM-SSH"].policy == "off"
    assert [s.key for s in host.config.service.service] == list(services)


def test_service_start_stop_and_privilege(si, lab):
    host = _hosts(si)["esx-b02"]
    system = host.configManager.serviceSystem
    try:
        system.StartService(id="TSM-SSH")
        assert next(s for s in system.serviceInfo.service if s.key == "TSM-SSH").running
        system.UpdateServicePolicy(id="TSM-SSH", policy="on")
        assert next(s for s in host.config.service.service if s.key == "TSM-SSH").policy == "on"
        with pytest.raises(vim.fault.NotFound):
            system.StartService(id="no-such-service")
        with pytest.raises(vmodl.fault.InvalidArgument):
            system.UpdateServicePolicy(id="TSM-SSH", policy="sometimes")
    finally:
        system.StopService(id="TSM-SSH")
        system.UpdateServicePolicy(id="TSM-SSH", policy="off")
    assert not next(s for s in system.serviceInfo.service if s.key == "TSM-SSH").running
    url = urlparse(lab.url)
    ro = SmartConnect(host=url.hostname, port=url.port, user=lab.info.readonly_username,
                      pwd=lab.info.readonly_password, sslContext=ssl.create_default_context(cafile=lab.cert))
    try:
        ro_host = _hosts(ro)["esx-b02"]
        with pytest.raises(vim.fault.NoPermission) as err:
            ro_host.configManager.serviceSystem.StartService(id="TSM-SSH")
        assert err.value.privilegeId == "Host.Config.NetService"
    finally:
        Disconnect(ro)


def test_date_time_system(si):
    host = _hosts(si)["esx-a02"]
    dts = host.configManager.dateTimeSystem
    info = dts.dateTimeInfo
    assert info.timeZone.key == "UTC" and info.ntpConfig.server and info.systemClockProtocol == "ntp"
    now = dts.QueryDateTime()
    assert abs((now - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 30
    assert host.config.dateTimeInfo.ntpConfig.server == info.ntpConfig.server


def test_vsan_off_on_hosts_and_clusters(si, lab):
    hosts = _hosts(si)
    host = hosts["esx-a03"]
    assert host.configManager.vsanSystem.config.enabled is False
    status = host.configManager.vsanSystem.QueryHostStatus()
    assert status.health == "unknown" and status.nodeState.state == "disabled" and status.nodeUuid
    assert not status.uuid
    cluster = host.parent
    assert cluster.configurationEx.vsanConfigInfo.enabled is False
    usage = cluster.GetResourceUsage()
    assert usage.cpuCapacityMHz == 3 * 32 * host.summary.hardware.cpuMhz
    assert usage.memCapacityMB == 3 * 512 * 1024 and 0 < usage.storageUsedMB < usage.storageCapacityMB
    lab.fault("host", host="esx-a03", state="disconnected")
    with pytest.raises(vmodl.fault.HostNotConnected):
        host.configManager.vsanSystem.QueryHostStatus()
    with pytest.raises(vmodl.fault.HostNotConnected):
        host.configManager.dateTimeSystem.QueryDateTime()


def test_network_system_per_host(si):
    hosts = _hosts(si)
    ips, macs = set(), set()
    for host in hosts.values():
        ns = host.configManager.networkSystem
        config, info = ns.networkConfig, ns.networkInfo
        assert [p.device for p in config.pnic] == ["vmnic0", "vmnic1"]
        assert all(p.linkSpeed.speedMb == 25000 for p in info.pnic)
        assert config.vswitch[0].spec.bridge.nicDevice == ["vmnic0", "vmnic1"]
        assert info.vnic[0].spec.mac == info.pnic[0].mac
        ips.add(info.vnic[0].spec.ip.ipAddress)
        macs.update(p.mac for p in info.pnic)
        assert host.config.network.pnic[0].mac == info.pnic[0].mac
        assert info.dnsConfig.hostName == host.name
        pci = {d.id: d for d in host.hardware.pciDevice}
        assert all(p.pci in pci for p in info.pnic)
    assert len(ips) == len(hosts) and len(macs) == 2 * len(hosts)


def test_host_hardware_and_capability(si):
    for host in _hosts(si).values():
        hw, summary = host.hardware, host.summary.hardware
        assert (hw.cpuInfo.numCpuPackages, hw.cpuInfo.numCpuCores, hw.cpuInfo.numCpuThreads) == (2, 32, 64)
        assert hw.memorySize == summary.memorySize == 512 * 2**30
        assert summary.vendor == hw.systemInfo.vendor == "Dell Inc." and "Xeon" in summary.cpuModel
        assert any(i.identifierType.key == "ServiceTag" and i.identifierValue == hw.systemInfo.serialNumber
                   for i in hw.systemInfo.otherIdentifyingInfo)
        pci = {d.id: d for d in hw.pciDevice}
        for hba in host.config.storageDevice.hostBusAdapter:
            assert hba.pci in pci
        cap = host.capability
        assert cap.vmotionSupported and cap.storageVMotionSupported and cap.sanSupported and cap.maxRunningVMs == 1024
        assert host.summary.quickStats.uptime > 86400 and host.summary.quickStats.overallMemoryUsage > 0
        assert host.runtime.healthSystemRuntime.systemHealthInfo.numericSensorInfo


def test_fc_cards_have_their_own_node_names(si):
    for name, host in _hosts(si).items():
        fc = [h for h in host.config.storageDevice.hostBusAdapter if isinstance(h, vim.host.FibreChannelHba)
              and h.storageProtocol == "scsi"]  # a card's FC-NVMe adapter shares its names
        cards = 1 if name == "esx-b04" else 2  # esx-b04 is cabled to fabric B only
        assert len(fc) == cards and len({h.nodeWorldWideName for h in fc}) == cards
        local = [h for h in host.config.storageDevice.hostBusAdapter if not isinstance(h, vim.host.FibreChannelHba)]
        assert [h.status for h in local] == ["unknown"]  # ESXi reports local adapters so


def test_host_datastore_browser_is_per_host(si):
    hosts = _hosts(si)
    browsers = {h.datastoreBrowser._moId for h in hosts.values()}
    assert len(browsers) == len(hosts)
    host = hosts["esx-a01"]
    assert {d._moId for d in host.datastoreBrowser.datastore} == {d._moId for d in host.datastore}
