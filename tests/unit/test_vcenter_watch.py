"""The watch loop against a scripted PropertyCollector: truncation, refetch, leave, resync."""

from __future__ import annotations

from pyVmomi import vim, vmodl

from vsguesttruth.model import PathState
from vsguesttruth.vcenter import ConnectionSettings, Watcher

from fakes.vim import fc_path, host_props, multipath

PC = vmodl.query.PropertyCollector


def typed(val):
    """pyVmomi's anyType wants a typed array, as the deserializer makes, not a plain list."""
    if isinstance(val, list) and not hasattr(type(val), "Item"):
        return (type(val[0]).Array if val else vim.host.MultipathInfo.Path.Array)(val)
    return val


def change(name, val, op="assign"):
    return PC.Change(name=name, op=op, val=typed(val))


def obj_update(ref, kind="modify", **props):
    return PC.ObjectUpdate(kind=kind, obj=ref, changeSet=[change(k.replace("__", "."), v) for k, v in props.items()])


def enter_host(mo, name, **over):
    props = host_props(name=name, **over)
    return PC.ObjectUpdate(kind="enter", obj=vim.HostSystem(mo), changeSet=[change(k, v) for k, v in props.items()])


def update_set(version, *updates, truncated=False):
    return PC.UpdateSet(version=version, truncated=truncated,
                        filterSet=[PC.FilterUpdate(filter=PC.Filter("filter-1"), objectSet=list(updates))])


class FakeCollector:
    def __init__(self, script, refetch=None):
        self.script = list(script)
        self.refetch = refetch or {}
        self.versions = []
        self.filters = []
        self.retrieved = []
        self.destroyed = False

    def CreateFilter(self, spec, partialUpdates):
        self.filters.append((spec, partialUpdates))
        return PC.Filter("filter-1")

    def WaitForUpdatesEx(self, version, options):
        self.versions.append(version)
        if not self.script:
            return None
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def RetrievePropertiesEx(self, specSet, options):
        refs = [o.obj._moId for o in specSet[0].objectSet]
        self.retrieved.append(refs)
        objects = [PC.ObjectContent(obj=vim.HostSystem(mo), propSet=[vmodl.DynamicProperty(name=k, val=typed(v))
                                                                     for k, v in self.refetch[mo].items()])
                   for mo in refs if mo in self.refetch]
        return PC.RetrieveResult(objects=objects)

    def DestroyPropertyCollector(self):
        self.destroyed = True

    def CancelWaitForUpdates(self):
        pass


class FakeRoot:
    def __init__(self, collector):
        self.collector = collector

    def CreatePropertyCollector(self):
        return self.collector


class FakeViews:
    def __init__(self):
        self.n = 0

    def CreateContainerView(self, root, types, recursive):
        self.n += 1
        return vim.view.ContainerView(f"session[x]view-{self.n}")


class FakeContent:
    def __init__(self, collector):
        self.propertyCollector = FakeRoot(collector)
        self.viewManager = FakeViews()
        self.rootFolder = vim.Folder("group-d1")


class FakeConn:
    def __init__(self, *collectors):
        self.collectors = list(collectors)
        self.content = FakeContent(self.collectors.pop(0))
        self.generation = 0
        self.settings = ConnectionSettings(url="vc", username="u", password="p")
        self.reconnects = 0

    def reconnect(self, seen=None):
        self.reconnects += 1
        self.generation += 1
        self.content = FakeContent(self.collectors.pop(0))
        return self.generation


def test_truncated_initial_update_is_read_to_the_end():
    collector = FakeCollector([
        update_set("1", enter_host("host-1", "esx-a01"), truncated=True),
        update_set("2", enter_host("host-2", "esx-a02")),
    ])
    watcher = Watcher(FakeConn(collector), max_wait=5)
    inventory = watcher.next_inventory()
    assert sorted(h.name for h in inventory.hosts.values()) == ["esx-a01", "esx-a02"]
    assert collector.versions == ["", "1"]
    spec, partial = collector.filters[0]
    assert partial is True
    assert {p.type for p in spec.propSet} == {vim.HostSystem, vim.ClusterComputeResource, vim.Datastore, vim.VirtualMachine}


def test_changes_in_place_refetch_and_leave():
    dead = multipath([fc_path("vmhba2:C0:T0:L1", state="dead"), fc_path("vmhba2:C0:T1:L1", state="dead")])
    collector = FakeCollector(
        [
            update_set("1", enter_host("host-1", "esx-a01"), enter_host("host-2", "esx-a02")),
            update_set("2", obj_update(vim.HostSystem("host-1"), runtime__connectionState="disconnected")),
            # a change below the requested path that doesn't resolve against what we hold -> refetch
            update_set("3", obj_update(vim.HostSystem("host-2"),
                                       **{'config.storageDevice.multipathInfo.lun["nope"].path': []})),
            update_set("4", PC.ObjectUpdate(kind="leave", obj=vim.HostSystem("host-1"))),
            update_set("5", obj_update(vim.HostSystem("host-2"), runtime__inMaintenanceMode=False)),  # no model change
        ],
        refetch={"host-2": host_props(name="esx-a02", **{"config.storageDevice.multipathInfo": dead})},
    )
    watcher = Watcher(FakeConn(collector), max_wait=5)
    first = watcher.next_inventory()
    assert first.hosts["host-1"].connected
    second = watcher.next_inventory(1)
    assert second.hosts["host-1"].connection_state == "disconnected"
    assert first.hosts["host-1"].connected  # earlier inventories are untouched
    third = watcher.next_inventory(1)
    assert collector.retrieved == [["host-2"]]
    assert {p.state for p in third.hosts["host-2"].paths} == {PathState.DEAD}
    fourth = watcher.next_inventory(1)
    assert set(fourth.hosts) == {"host-2"}
    assert watcher.next_inventory(1) is None  # change without effect, then nothing: timeout
    assert collector.versions[:6] == ["", "1", "2", "3", "4", "5"]


def test_lost_session_reconnects_and_resyncs():
    old = FakeCollector([update_set("1", enter_host("host-1", "esx-a01"), enter_host("host-2", "esx-a02")),
                         vim.fault.NotAuthenticated()])
    new = FakeCollector([update_set("1", enter_host("host-2", "esx-a02-renamed"))])
    conn = FakeConn(old, new)
    watcher = Watcher(conn, max_wait=5)
    assert len(watcher.next_inventory().hosts) == 2
    resynced = watcher.next_inventory(5)
    assert conn.reconnects == 1 and watcher.resyncs == 1
    assert {h.name for h in resynced.hosts.values()} == {"esx-a02-renamed"}  # a full fresh state, host-1 gone
    assert new.versions == [""]
    assert not old.destroyed  # it died with its session: no calls into a dead session
    watcher.close()
    assert new.destroyed


def test_a_resync_keeps_the_objects_that_did_not_change():
    old = FakeCollector([update_set("1", enter_host("host-1", "esx-a01"), enter_host("host-2", "esx-a02")),
                         vim.fault.NotAuthenticated()])
    new = FakeCollector([update_set("1", enter_host("host-1", "esx-a01"), enter_host("host-2", "esx-a02-renamed"))])
    watcher = Watcher(FakeConn(old, new), max_wait=5)
    first = watcher.next_inventory()
    record = watcher._records["host-1"]
    resynced = watcher.next_inventory(5)
    assert watcher.resyncs == 1
    assert resynced.hosts["host-1"] is first.hosts["host-1"]  # equal: the same object (the reconciler skips it)
    # its record too, compared as it arrived: memory holds one copy of what did not change, not two
    assert watcher._records["host-1"] is record and watcher._previous == {}
    assert resynced.hosts["host-2"] is not first.hosts["host-2"] and resynced.hosts["host-2"].name == "esx-a02-renamed"
    watcher.close()


def test_close_stops_iteration():
    collector = FakeCollector([update_set("1", enter_host("host-1", "esx-a01"))])
    watcher = Watcher(FakeConn(collector), max_wait=5)
    iterator = iter(watcher)
    assert next(iterator).hosts["host-1"].name == "esx-a01"
    watcher.close()
    assert list(iterator) == []
    assert watcher.next_inventory(0) is None


def test_compact_change_above_at_and_below_held_paths():
    from vsguesttruth.vcenter.convert import HOST, compact_record
    from vsguesttruth.vcenter.watch import apply_compact_change

    record = compact_record(HOST, host_props())
    storage = vim.host.StorageDeviceInfo(hostBusAdapter=[], scsiLun=[], multipathInfo=None)
    assert apply_compact_change(record, "config.storageDevice", "assign", storage)
    assert record.props["config.storageDevice.scsiLun"] == ()
    assert "config.storageDevice.multipathInfo" not in record.props
    assert apply_compact_change(record, "runtime.connectionState", "assign", "disconnected")
    assert record.props["runtime.connectionState"] == "disconnected"
    assert not apply_compact_change(record, 'config.multipathState.path["x"].pathState', "assign", "dead")
    assert apply_compact_change(record, "summary.quickStats.overallCpuUsage", "assign", 5)


def test_datastore_names_are_read_again_only_when_one_was_renamed_added_or_removed():
    from vsguesttruth.vcenter.convert import DATASTORE, Record, datastore_names, names_hold

    records = {"datastore-1": Record(DATASTORE, {"name": "ds01"}), "datastore-2": Record(DATASTORE, {"name": "ds02"})}
    names = datastore_names(records)
    assert names_hold(names, records, ["datastore-1"])  # its mounts changed, its name did not
    renamed = {**records, "datastore-1": Record(DATASTORE, {"name": "ds01-new"})}
    assert not names_hold(names, renamed, ["datastore-1"])
    assert not names_hold(names, {**records, "datastore-3": Record(DATASTORE, {"name": "ds03"})}, ["datastore-3"])
    assert not names_hold(names, {"datastore-2": records["datastore-2"]}, ["datastore-1"])
