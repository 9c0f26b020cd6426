"""[scope] by vSphere tags on plain data: a VM is in scope when it, its host, its host's cluster or a
datastore of its disks carries one of ``tags`` and none of them carries one of ``exclude_tags``; while the tags
are unknown no VM passes a tag criterion; a VM tagged out of scope keeps its document but gets no update."""

from __future__ import annotations

from fakes import inventory as f
from fakes.reconcile import reconciler as setup

from vsguesttruth.config import Config, ScopeConfig
from vsguesttruth.model import Tagged
from vsguesttruth.scope import Scope

ON = (("vsgt", "on"),)


def in_scope(inv, scope: Scope) -> list[str]:
    return sorted(vm.name for vm in inv.vms.values() if scope.includes(vm, inv))


def test_a_vm_carries_a_tag_through_itself_its_host_its_cluster_or_a_datastore():
    inv = f.lab_inventory()
    config = ScopeConfig(tags=ON)
    assert in_scope(inv, Scope(config)) == []  # not read yet
    assert in_scope(inv, Scope(config, tagged=Tagged(vms=frozenset({f.vm_moref("web02")})))) == ["web02"]
    on_host = sorted(vm.name for vm in inv.vms.values() if vm.host == f.host_moref("esx-a01"))
    assert in_scope(inv, Scope(config, tagged=Tagged(hosts=frozenset({f.host_moref("esx-a01")})))) == on_host
    in_cluster = sorted(vm.name for vm in inv.vms.values() if inv.hosts[vm.host].cluster == "cl-b")
    assert in_scope(inv, Scope(config, tagged=Tagged(clusters=frozenset({"cl-b"})))) == in_cluster
    silver = f.ds_moref("ds-silver")
    on_silver = sorted(vm.name for vm in inv.vms.values() if any(silver in d.datastores for d in vm.disks))
    assert on_silver and in_scope(inv, Scope(config, tagged=Tagged(datastores=frozenset({silver})))) == on_silver


def test_exclude_tags_take_vms_out_and_narrow_the_other_criteria():
    inv = f.lab_inventory()
    everyone = sorted(vm.name for vm in inv.vms.values())
    config = ScopeConfig(exclude_tags=(("vsgt", "off"),))
    assert in_scope(inv, Scope(config)) == []  # what is excluded is not known yet: nobody, not everybody
    out = Scope(config, excluded=Tagged(vms=frozenset({f.vm_moref("web01")})))
    assert in_scope(inv, out) == [n for n in everyone if n != "web01"]
    both = Scope(ScopeConfig(clusters=("cl-a",), tags=ON, exclude_tags=(("vsgt", "off"),)),
                 tagged=Tagged(clusters=frozenset({"cl-a", "cl-b"})), excluded=Tagged(vms=frozenset({f.vm_moref("web01")})))
    assert in_scope(inv, both) == sorted(vm.name for vm in inv.vms.values()
                                         if inv.hosts[vm.host].cluster == "cl-a" and vm.name != "web01")
    assert "not tags vsgt:off" in both.describe() and "tags vsgt:on" in both.describe()


def test_a_vm_tagged_out_of_scope_gets_no_more_updates():
    vc, rec, _ = setup(config=Config(scope=ScopeConfig(exclude_tags=(("vsgt", "off"),))))
    rec.set_tagged(None, Tagged())
    rec.reconcile(vc.inv)
    assert "web01" in vc.written()
    kept = vc.info("web01", "guestinfo.vsguesttruth.state")
    rec.set_tagged(None, Tagged(vms=frozenset({f.vm_moref("web01")})))  # the admin tagged it vsgt:off
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba2", "dead")
    rec.reconcile(vc.inv)
    written = vc.written()
    assert "web01" not in written and "db01" in written  # db01 is on esx-a01 too, and still in scope
    assert vc.info("web01", "guestinfo.vsguesttruth.state") == kept
    rec.set_tagged(None, Tagged())  # untagged: back in scope, and brought up to date
    rec.reconcile(vc.inv)
    assert vc.written() == ["web01"] and vc.doc("web01")["verdict"] == "degraded"
