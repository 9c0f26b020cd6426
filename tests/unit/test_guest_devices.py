"""The guest agent's device mapping on fake sysfs trees with the layouts Linux gives VMware guests."""

from __future__ import annotations

import pytest

from vsguesttruth.lab import FakeSys, naa_of
from vsguesttruth_guest import devices
from vsguesttruth_guest.devices import Match, map_disks, scan

GB = 1024**3
U1 = "6000C291-5fd3-bc63-a440-856334b189ec"
U2 = "6000C295-e384-681a-674b-ffc4c1d44bab"
U3 = "6000C298-4d1b-0107-4d1c-2afc0e17ae08"
LUN = "naa.600a098038303053453f463045727001"


def disk(controller, bus, unit, capacity=None, uuid="", backing="vmdk", label=None, luns=()):
    d = {"label": label or f"{controller} {bus}:{unit}", "controller": controller, "bus": bus, "unit": unit,
         "verdict": "healthy", "reachable": True, "advice": "none", "backing": backing}
    if capacity is not None:
        d["capacity"] = capacity
    if uuid:
        d["uuid"] = uuid
    if luns:
        d["luns"] = [{"name": name} for name in luns]
    return d


def mapped(disks, root):
    return [(m.device, m.method) for m in map_disks(disks, scan(root))]


def test_pvscsi_and_lsilogic_by_address_ignores_kernel_host_numbers(tmp_path):
    # app03: lsilogic bus 0 unit 0, pvscsi bus 1 unit 3; the kernel probed pvscsi first (host0)
    fs = FakeSys(tmp_path)
    fs.scsi_host(0, "vmw_pvscsi", "0000:03:00.0").scsi_host(1, "ata_piix", "0000:00:07.1").scsi_host(2, "mptspi", "0000:00:10.0")
    fs.scsi_disk("sda", 0, 3, 20 * GB).scsi_disk("sdb", 2, 0, 80 * GB)
    disks = [disk("lsilogic", 0, 0, 80 * GB), disk("pvscsi", 1, 3, 20 * GB)]
    assert mapped(disks, tmp_path) == [("/dev/sdb", "scsi-address"), ("/dev/sda", "scsi-address")]


def test_two_pvscsi_controllers_ordered_by_pci_address(tmp_path):
    fs = FakeSys(tmp_path)
    fs.scsi_host(2, "vmw_pvscsi", "0000:0b:00.0").scsi_host(3, "vmw_pvscsi", "0000:03:00.0")
    fs.scsi_disk("sda", 2, 0, 10 * GB).scsi_disk("sdb", 3, 0, 10 * GB).scsi_disk("sdc", 3, 1, 10 * GB)
    disks = [disk("pvscsi", 0, 0, 10 * GB), disk("pvscsi", 0, 1, 10 * GB), disk("pvscsi", 1, 0, 10 * GB)]
    assert mapped(disks, tmp_path) == [("/dev/sdb", "scsi-address"), ("/dev/sdc", "scsi-address"), ("/dev/sda", "scsi-address")]
    assert all(m.note == "" for m in map_disks(disks, scan(tmp_path)))


def test_identity_wins_over_address(tmp_path):
    # the uuids are exposed (disk.EnableUUID): wwid file, VPD 0x83 only, VPD 0x80 serial only
    fs = FakeSys(tmp_path)
    fs.scsi_host(0, "vmw_pvscsi", "0000:03:00.0")
    fs.scsi_disk("sda", 0, 0, GB, wwid=f"naa.{naa_of(U3)}")
    fs.scsi_disk("sdb", 0, 1, GB, naa=naa_of(U1))
    fs.scsi_disk("sdc", 0, 2, GB, serial=naa_of(U2))
    disks = [disk("pvscsi", 0, 0, GB, U1), disk("pvscsi", 0, 1, GB, U2), disk("pvscsi", 0, 2, GB, U3)]
    assert mapped(disks, tmp_path) == [("/dev/sdb", "wwid"), ("/dev/sdc", "serial"), ("/dev/sda", "wwid")]


def test_physical_rdm_matches_the_lun_id(tmp_path):
    fs = FakeSys(tmp_path)
    fs.scsi_host(0, "mptspi", "0000:00:10.0").scsi_host(1, "vmw_pvscsi", "0000:03:00.0")
    fs.scsi_disk("sda", 0, 0, 60 * GB, wwid=f"naa.{naa_of(U3)}")
    fs.scsi_disk("sdb", 1, 0, 500 * GB, wwid=LUN)
    fs.scsi_disk("sdc", 1, 1, 100 * GB)  # no uuid exposed
    disks = [
        disk("lsilogic", 0, 0, 60 * GB, U3),
        disk("pvscsi", 1, 0, 500 * GB, U1, backing="rdm_physical", luns=[LUN]),
        disk("pvscsi", 1, 1, 100 * GB, U2),
    ]
    assert mapped(disks, tmp_path) == [("/dev/sda", "wwid"), ("/dev/sdb", "wwid"), ("/dev/sdc", "scsi-address")]


def test_nvme_by_nguid_and_by_controller_order(tmp_path):
    fs = FakeSys(tmp_path)
    fs.nvme_controller(0, "0000:13:00.0").nvme_controller(1, "0000:0b:00.0")
    fs.nvme_namespace(1, 1, 16 * GB, nguid=U1.lower(), wwid=f"eui.{naa_of(U1)}")  # bus 0 unit 0, uuid exposed
    fs.nvme_namespace(1, 2, 32 * GB)  # bus 0 unit 1
    fs.nvme_namespace(0, 1, 64 * GB)  # bus 1 unit 0
    disks = [disk("nvme", 0, 0, 16 * GB, U1), disk("nvme", 0, 1, 32 * GB, U2), disk("nvme", 1, 0, 64 * GB)]
    assert mapped(disks, tmp_path) == [("/dev/nvme1n1", "wwid"), ("/dev/nvme1n2", "nvme-address"), ("/dev/nvme0n1", "nvme-address")]


def test_no_uuid_exposed_and_a_controller_without_disks(tmp_path):
    # the guest has an empty pvscsi controller (bus 0) before the one with the disk (bus 1)
    fs = FakeSys(tmp_path)
    fs.scsi_host(0, "vmw_pvscsi", "0000:03:00.0").scsi_host(1, "vmw_pvscsi", "0000:0b:00.0")
    fs.scsi_disk("sda", 1, 2, 40 * GB)
    [match] = map_disks([disk("pvscsi", 1, 2, 40 * GB)], scan(tmp_path))
    assert (match.device, match.method) == ("/dev/sda", "scsi-address")
    assert "another pvscsi controller" in match.note
    # without a capacity the fallback cannot tell: unmatched, and says where it looked
    [match] = map_disks([disk("pvscsi", 1, 2)], scan(tmp_path))
    assert (match.device, match.method) == (None, "unmatched") and "pvscsi 1:2" in match.note


def test_wrong_size_or_missing_controller_is_unmatched(tmp_path):
    fs = FakeSys(tmp_path)
    fs.scsi_host(0, "vmw_pvscsi", "0000:03:00.0")
    fs.scsi_disk("sda", 0, 0, 10 * GB)
    disks = [disk("pvscsi", 0, 0, 20 * GB), disk("lsilogic-sas", 1, 0, 10 * GB), disk("other", 0, 0)]
    matches = map_disks(disks, scan(tmp_path))
    assert [(m.device, m.method) for m in matches] == [(None, "unmatched")] * 3
    assert "no device of its size" in matches[0].note
    assert "no lsilogic-sas controller" in matches[1].note
    assert "cannot be located" in matches[2].note


def test_a_device_goes_to_one_disk_only(tmp_path):
    fs = FakeSys(tmp_path)
    fs.scsi_host(0, "vmw_pvscsi", "0000:03:00.0")
    fs.scsi_disk("sda", 0, 0, GB, wwid=f"naa.{naa_of(U1)}")
    disks = [disk("pvscsi", 0, 0, GB, U1), disk("pvscsi", 0, 1, GB, U1)]
    assert mapped(disks, tmp_path) == [("/dev/sda", "wwid"), (None, "unmatched")]


def test_sata_ports_and_ide_channels(tmp_path):
    fs = FakeSys(tmp_path)
    for port in range(4):  # AHCI: one SCSI host per port
        fs.scsi_host(3 + port, "ahci", "0000:02:03.0")
    fs.scsi_host(0, "ata_piix", "0000:00:07.1").scsi_host(1, "ata_piix", "0000:00:07.1")
    fs.scsi_disk("sda", 0, 1, GB)  # IDE 0:1 (primary slave)
    fs.scsi_disk("sdb", 5, 0, 2 * GB)  # SATA 0:2
    fs.scsi_disk("sdc", 1, 0, 3 * GB)  # IDE 1:0
    disks = [disk("sata", 0, 2, 2 * GB), disk("ide", 1, 0, 3 * GB), disk("ide", 0, 1, GB)]
    assert mapped(disks, tmp_path) == [("/dev/sdb", "scsi-address"), ("/dev/sdc", "scsi-address"), ("/dev/sda", "scsi-address")]


def test_scan_reads_what_sysfs_says(tmp_path):
    fs = FakeSys(tmp_path)
    fs.scsi_host(2, "vmw_pvscsi", "0000:03:00.0").scsi_disk("sda", 2, 1, 8 * GB, wwid=f"naa.{naa_of(U1)}", serial=naa_of(U1))
    storage = scan(tmp_path)
    [dev] = storage.devices
    assert dev.as_dict() == {
        "device": "/dev/sda", "kind": "pvscsi", "driver": "vmw_pvscsi", "pci": "0000:03:00.0", "address": "2:0:1:0",
        "controller": "", "nsid": None, "size": 8 * GB, "ids": [naa_of(U1)], "serials": [naa_of(U1)],
    }
    assert [(c.kind, c.pci, c.hosts) for c in storage.controllers] == [("pvscsi", "0000:03:00.0", (2,))]


def test_empty_or_missing_sysfs(tmp_path):
    assert scan(tmp_path / "nothing") == devices.GuestStorage()
    assert map_disks([disk("pvscsi", 0, 0)], scan(tmp_path / "nothing"))[0] == Match(None, "unmatched", "no pvscsi controller (vmw_pvscsi) in the guest")


@pytest.mark.parametrize("value, expected", [
    ("naa.6000C29FDBAF1B959E04C95DA08B305F", "6000c29fdbaf1b959e04c95da08b305f"),
    ("eui.0025385591b40636", "0025385591b40636"),
    ("6000c29f-dbaf-1b95-9e04-c95da08b305f", "6000c29fdbaf1b959e04c95da08b305f"),
    ("  VMware NVME_0000 ", "vmware nvme_0000"),
])
def test_identifiers_are_normalized(value, expected):
    assert devices._normalize(value) == expected
