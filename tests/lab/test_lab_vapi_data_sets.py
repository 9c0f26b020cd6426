"""VM data sets in the lab (com.vmware.vcenter.vm.data_sets and .entries) as vCenter answers them, and the
guest's side of them (`vmtoolsd --cmd "datasets-..."` through the lab's guest door), through Broadcom's SDK,
the REST forms under /api/vcenter/vm/{vm}/data-sets and pyVmomi (lab/README.md). Tests that power VMs off,
suspend or clone them run their own lab.
"""

from __future__ import annotations

import json
import uuid

import pytest
from com.vmware.vapi.std.errors_client import (AlreadyExists, InvalidArgument, NotAllowedInCurrentState, NotFound,
                                                ResourceInUse, Unauthorized, Unsupported)
from com.vmware.vcenter.vm_client import DataSets
from fakes.automation import guest, rest, rest_login, sdk, soap
from pyVim.connect import Disconnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from vsguesttruth.lab import Lab

pytestmark = pytest.mark.lab

ACCESS = DataSets.Access


def vms_by_hardware(si) -> tuple[list, list]:
    """(VMs of hardware vmx-20 or later, older VMs), powered on, by name."""
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        vms = sorted((v for v in view.view if v.runtime.powerState == "poweredOn"), key=lambda v: v.name)
    finally:
        view.Destroy()
    new = [v for v in vms if int(v.config.version.split("-")[1]) >= 20]
    return new, [v for v in vms if v not in new]


def spec(name, host=ACCESS.READ_WRITE, guest_access=ACCESS.READ_ONLY, omit=None):
    return DataSets.CreateSpec(name=name, description="vsgt test", host=host, guest=guest_access,
                               omit_from_snapshot_and_clone=omit)


@pytest.fixture
def data_sets(lab, si):
    """The SDK client and a hardware-20 VM; the data sets made on it are deleted afterwards."""
    client = sdk(lab)
    vm = vms_by_hardware(si)[0][0]
    yield client, vm
    for summary in client.vcenter.vm.DataSets.list(vm._moId):
        if summary.name.startswith("vsgt.test"):
            client.vcenter.vm.DataSets.delete(vm._moId, summary.data_set, force=True)


@pytest.fixture
def own_si(tmp_path):
    lab = Lab(tmp_path / "lab")
    info = lab.up()
    si = soap(info)
    try:
        yield info, si
    finally:
        Disconnect(si)
        lab.down()


def test_hardware_versions_are_mixed_and_gate_data_sets(lab, si):
    new, old = vms_by_hardware(si)
    assert new and old
    assert {v.config.version for v in new} <= {"vmx-20", "vmx-21"}
    client = sdk(lab)
    assert client.vcenter.vm.DataSets.list(new[0]._moId) is not None
    with pytest.raises(Unsupported):
        client.vcenter.vm.DataSets.list(old[0]._moId)
    with pytest.raises(Unsupported):
        client.vcenter.vm.DataSets.create(old[0]._moId, spec("vsgt.test.old"))
    with pytest.raises(NotFound):
        client.vcenter.vm.DataSets.list("vm-nope")


def test_data_sets_and_entries_through_the_sdk(data_sets):
    client, vm = data_sets
    sets, entries = client.vcenter.vm.DataSets, client.vcenter.vm.data_sets.Entries
    ds = sets.create(vm._moId, spec("vsgt.test.state", omit=True))
    assert ds == "vsgt.test.state"
    with pytest.raises(AlreadyExists):
        sets.create(vm._moId, spec("vsgt.test.state"))
    entries.set(vm._moId, ds, "state", '{"schema": 1}')
    entries.set(vm._moId, ds, "state", '{"schema": 2}')
    assert entries.get(vm._moId, ds, "state") == '{"schema": 2}'
    assert entries.list(vm._moId, ds) == {"state"}
    info = sets.get(vm._moId, ds)
    assert (info.name, info.host, info.guest, info.omit_from_snapshot_and_clone) == (ds, ACCESS.READ_WRITE, ACCESS.READ_ONLY, True)
    assert info.used == len("state") + len('{"schema": 2}')
    assert [(s.data_set, s.name) for s in sets.list(vm._moId) if s.name == ds] == [(ds, ds)]
    with pytest.raises(NotFound):
        entries.get(vm._moId, ds, "nope")
    with pytest.raises(ResourceInUse):
        sets.delete(vm._moId, ds)  # not empty, no force
    sets.update(vm._moId, ds, DataSets.UpdateSpec(description="changed", guest=ACCESS.READ_WRITE))
    assert (sets.get(vm._moId, ds).description, sets.get(vm._moId, ds).guest) == ("changed", ACCESS.READ_WRITE)
    entries.delete(vm._moId, ds, "state")
    with pytest.raises(NotFound):
        entries.delete(vm._moId, ds, "state")
    sets.delete(vm._moId, ds)
    with pytest.raises(NotFound):
        sets.get(vm._moId, ds)


def test_host_access_modes_and_limits(data_sets):
    client, vm = data_sets
    sets, entries = client.vcenter.vm.DataSets, client.vcenter.vm.data_sets.Entries
    read_only = sets.create(vm._moId, spec("vsgt.test.ro", host=ACCESS.READ_ONLY))
    hidden = sets.create(vm._moId, spec("vsgt.test.none", host=ACCESS.NONE))
    with pytest.raises(Unauthorized):
        entries.set(vm._moId, read_only, "k", "v")
    assert entries.list(vm._moId, read_only) == set()
    with pytest.raises(Unauthorized):
        entries.list(vm._moId, hidden)
    open_set = sets.create(vm._moId, spec("vsgt.test.limits"))
    entries.set(vm._moId, open_set, "k" * 4096, "v")
    with pytest.raises(InvalidArgument):
        entries.set(vm._moId, open_set, "k" * 4097, "v")
    entries.set(vm._moId, open_set, "big", "x" * (1 << 20))
    with pytest.raises(InvalidArgument):
        entries.set(vm._moId, open_set, "bigger", "x" * ((1 << 20) + 1))
    with pytest.raises(InvalidArgument):
        sets.create(vm._moId, DataSets.CreateSpec(name="vsgt.test.desc", description="d" * 1025,
                                                  host=ACCESS.READ_WRITE, guest=ACCESS.NONE))


def test_readonly_user_has_no_data_set_privileges(lab, data_sets):
    _, vm = data_sets
    info = lab.info
    readonly = sdk(lab, info.readonly_username, info.readonly_password)  # kept: collected, it logs out
    with pytest.raises(Unauthorized):
        readonly.vcenter.vm.DataSets.list(vm._moId)


def test_rest_forms_of_data_sets(lab, data_sets):
    _, vm = data_sets
    base = f"/vcenter/vm/{vm._moId}/data-sets"
    with rest(lab) as api:
        rest_login(api, lab)
        created = api.post(base, json={"name": "vsgt.test.rest", "description": "", "host": "READ_WRITE", "guest": "READ_ONLY"})
        assert created.status_code == 201 and created.json() == "vsgt.test.rest"
        assert api.put(f"{base}/vsgt.test.rest/entries/state", json="hello").status_code == 204
        assert api.get(f"{base}/vsgt.test.rest/entries/state").json() == "hello"
        assert api.get(f"{base}/vsgt.test.rest/entries").json() == ["state"]
        assert api.get(f"{base}/vsgt.test.rest").json() == {
            "name": "vsgt.test.rest", "description": "", "host": "READ_WRITE", "guest": "READ_ONLY",
            "used": len("statehello"), "omit_from_snapshot_and_clone": False}
        assert {"data_set": "vsgt.test.rest", "name": "vsgt.test.rest", "description": ""} in api.get(base).json()
        in_use = api.delete(f"{base}/vsgt.test.rest")
        assert in_use.status_code == 400 and in_use.json()["error_type"] == "RESOURCE_IN_USE"
        assert api.delete(f"{base}/vsgt.test.rest", params={"force": "true"}).status_code == 204
        assert api.get(f"{base}/vsgt.test.rest").status_code == 404


def test_the_guest_side_obeys_guest_access(lab, data_sets):
    client, vm = data_sets
    sets, entries = client.vcenter.vm.DataSets, client.vcenter.vm.data_sets.Entries
    state = sets.create(vm._moId, spec("vsgt.test.truth", guest_access=ACCESS.READ_ONLY))
    requests_set = sets.create(vm._moId, spec("vsgt.test.requests", guest_access=ACCESS.READ_WRITE))
    hidden = sets.create(vm._moId, spec("vsgt.test.hidden", guest_access=ACCESS.NONE))
    entries.set(vm._moId, state, "state", '{"disks": []}')

    listed = guest(lab, vm.name, "datasets-list").json()
    assert listed["result"] is True
    assert {"name": state, "description": "vsgt test"} in listed["datasets"]
    got = guest(lab, vm.name, json_cmd("datasets-get-entry", dataset=state, keys=["state"])).json()
    assert got == {"result": True, "entries": [{"state": '{"disks": []}'}]}
    assert guest(lab, vm.name, json_cmd("datasets-list-keys", dataset=state)).json() == {"result": True, "keys": ["state"]}
    denied = guest(lab, vm.name, json_cmd("datasets-set-entry", dataset=state, entries=[{"key": "state", "value": "forged"}])).json()
    assert denied["result"] is False and denied["error-id"] == "access-denied"
    assert entries.get(vm._moId, state, "state") == '{"disks": []}'
    assert guest(lab, vm.name, json_cmd("datasets-get-entry", dataset=hidden, keys=["x"])).json()["error-id"] == "access-denied"

    written = guest(lab, vm._moId, json_cmd("datasets-set-entry", dataset=requests_set,
                                            entries=[{"key": "request", "value": '{"id": "r1"}'}])).json()
    assert written == {"result": True}
    assert entries.get(vm._moId, requests_set, "request") == '{"id": "r1"}'
    missing = guest(lab, vm.name, json_cmd("datasets-get-entry", dataset=requests_set, keys=["nope"])).json()
    assert missing["result"] is False and missing["error-id"] == "not-found"
    extra = guest(lab, vm.name, json_cmd("datasets-list-keys", dataset=state, surprise=1)).json()
    assert extra["result"] is False and extra["error-id"] == "invalid-argument"
    too_big = guest(lab, vm.name, json_cmd("datasets-set-entry", dataset=requests_set,
                                           entries=[{"key": "ok", "value": "v"}, {"key": "k" * 4097, "value": "v"}])).json()
    assert too_big["result"] is False and entries.list(vm._moId, requests_set) == {"request"}  # all or nothing
    assert guest(lab, vm.name, "datasets-unknown {}").status_code == 400
    assert guest(lab, "nope", "datasets-list").status_code == 404


def json_cmd(name: str, **args) -> str:
    return f"{name} {json.dumps(args)}"


def test_data_sets_outlive_power_off_and_refuse_a_suspended_vm(own_si):
    info, si = own_si
    client = sdk(info)
    vm = vms_by_hardware(si)[0][0]
    ds = client.vcenter.vm.DataSets.create(vm._moId, spec("vsgt.test.power"))
    client.vcenter.vm.data_sets.Entries.set(vm._moId, ds, "state", "kept")
    WaitForTask(vm.PowerOffVM_Task())
    assert client.vcenter.vm.data_sets.Entries.get(vm._moId, ds, "state") == "kept"
    client.vcenter.vm.data_sets.Entries.set(vm._moId, ds, "state", "written while off")
    assert guest(info, vm.name, json_cmd("datasets-list-keys", dataset=ds)).status_code == 409  # no guest runs
    WaitForTask(vm.PowerOnVM_Task())
    assert client.vcenter.vm.data_sets.Entries.get(vm._moId, ds, "state") == "written while off"
    WaitForTask(vm.SuspendVM_Task())
    with pytest.raises(NotAllowedInCurrentState):
        client.vcenter.vm.data_sets.Entries.set(vm._moId, ds, "state", "suspended")
    assert client.vcenter.vm.data_sets.Entries.get(vm._moId, ds, "state") == "written while off"


def test_clone_keeps_hardware_version_and_copies_data_sets_not_omitted(own_si):
    info, si = own_si
    client = sdk(info)
    vm = vms_by_hardware(si)[0][0]
    sets, entries = client.vcenter.vm.DataSets, client.vcenter.vm.data_sets.Entries
    sets.create(vm._moId, spec("vsgt.test.copied", omit=False))
    entries.set(vm._moId, "vsgt.test.copied", "policy", "p1")
    sets.create(vm._moId, spec("vsgt.test.omitted", omit=True))
    entries.set(vm._moId, "vsgt.test.omitted", "state", "belongs to the source")
    name = f"clone-{uuid.uuid4().hex[:6]}"
    task = vm.CloneVM_Task(folder=vm.parent, name=name, spec=vim.vm.CloneSpec(location=vim.vm.RelocateSpec()))
    WaitForTask(task)
    clone = task.info.result
    assert clone.config.version == vm.config.version
    assert [s.name for s in sets.list(clone._moId)] == ["vsgt.test.copied"]
    assert entries.get(clone._moId, "vsgt.test.copied", "policy") == "p1"
    entries.set(clone._moId, "vsgt.test.copied", "policy", "p2")
    assert entries.get(vm._moId, "vsgt.test.copied", "policy") == "p1"  # a copy, not a share
