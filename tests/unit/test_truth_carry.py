"""A TruthContext built on the one before (the service's loop: ``shared_context``) reuses only the judgements
nothing changed under: whatever the faults, its truths are a fresh context's."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from vsguesttruth.model import Inventory
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext
from vsguesttruth.truth.hostindex import HostIndex, unchanged

from fakes import inventory as f
from fakes.inventory import FAULTS

LEVELS = (ServiceLevel(), ServiceLevel(min_working_paths=4))


def truths(ctx: TruthContext, level: ServiceLevel) -> list[dict]:
    return [t.as_dict() for t in ctx.vm_truths(level)]


def unpresent(inv: Inventory, host: str, lun: str) -> Inventory:
    """The array stops presenting a LUN to one host (and the host rescans): no device, no paths."""
    h = inv.hosts[f.host_moref(host)]
    return inv.with_host(replace(h, luns=tuple(x for x in h.luns if x.canonical_name != f.naa(lun)),
                                 paths=tuple(p for p in h.paths if p.lun != f.naa(lun))))


def change(inv: Inventory, fault: tuple) -> Inventory:
    kind, *args = fault
    if kind == "flap":
        host, lun, i, state = args
        return f.set_path(inv, host, f.array_paths(lun)[i].name, state)
    if kind == "unpresent":
        return unpresent(inv, *args)
    return f.apply(inv, fault)


# the lab's faults, and a single path flapping, and a LUN no longer presented to a host
CHANGES = st.lists(st.one_of(
    FAULTS,
    st.tuples(st.tuples(st.just("flap"), st.sampled_from(f.HOSTS), st.sampled_from(["gold01", "silver01", "rdm01"]),
                        st.integers(0, 3), st.sampled_from(["dead", "active", "standby", "disabled"]))),
    st.tuples(st.tuples(st.just("unpresent"), st.sampled_from(f.HOSTS), st.sampled_from(["gold01", "rdm01"]))),
), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(CHANGES, st.sampled_from(LEVELS), st.booleans())
def test_a_context_built_on_the_one_before_judges_as_a_fresh_one(steps, level, restore):
    index = HostIndex()
    inv = f.lab_inventory()
    TruthContext(inv, index).vm_truths(level)
    for faults in steps:
        for fault in faults:
            inv = change(inv, fault)  # one change after the other: the hosts it did not touch stay the same
        if restore:
            inv = f.set_hba(inv, "esx-a01", "vmhba2", "ok")
        carried = TruthContext(inv, index)
        assert truths(carried, level) == truths(TruthContext(inv), level)


@settings(max_examples=150, deadline=None)
@given(CHANGES, st.sampled_from(LEVELS), st.data())
def test_what_a_pass_did_not_ask_for_is_carried_to_the_next_ones(steps, level, data):
    """The service's passes judge only the VMs that changed: a LUN's facts judged several inventories ago are
    patched with every host that changed since, never stale."""
    index = HostIndex()
    inv = f.lab_inventory()
    TruthContext(inv, index).vm_truths(level)
    for faults in steps:
        for fault in faults:
            inv = change(inv, fault)
        asked = data.draw(st.lists(st.sampled_from(sorted(inv.vms)), max_size=3, unique=True))
        carried, fresh = TruthContext(inv, index), TruthContext(inv)
        for moref in asked:
            assert carried.vm_truth(moref, level).as_dict() == fresh.vm_truth(moref, level).as_dict()
    assert truths(TruthContext(inv, index), level) == truths(TruthContext(inv), level)


def test_what_changed_is_found_by_identity():
    before = f.lab_inventory()
    after = f.set_hba(before, "esx-a01", "vmhba2", "dead")
    found = unchanged(before, after)
    assert found.hosts == {f.host_moref("esx-a01")}
    assert not found.keeps(f.host_moref("esx-a01"), f.naa("gold01"))
    assert found.keeps(f.host_moref("esx-b01"), "naa.not-on-a01")
    ds = before.datastores[f.ds_moref("ds-gold")]
    moved = after.with_datastore(replace(ds, mounts=ds.mounts[:1]))
    found = unchanged(after, moved)
    gone = {m.host for m in ds.mounts[1:]}
    assert {(h, n) for h in gone for n in ds.extents} == found.pairs and set(ds.extents) <= found.names
    assert not found.keeps(next(iter(gone)), ds.extents[0]) and found.keeps(ds.mounts[0].host, ds.extents[0])


def test_a_flap_replaces_one_hosts_view_of_a_lun_and_keeps_every_other():
    index = HostIndex()
    inv = f.lab_inventory()
    a01, b01, gold = f.host_moref("esx-a01"), f.host_moref("esx-b01"), f.naa("gold01")
    before = TruthContext(inv, index).lun_truth(a01, gold)
    flapped = f.set_path(inv, "esx-a01", f.array_paths("gold01")[0].name, "dead")
    after = TruthContext(flapped, index).lun_truth(b01, gold)
    views = {e.host_moref: e for e in before.hosts}
    assert {e.host_moref for e in after.hosts} == set(views)
    for e in after.hosts:
        assert (e is views[e.host_moref]) == (e.host_moref != a01)  # the other hosts' views: the same objects
    assert next(e for e in after.hosts if e.host_moref == a01).available == 3
    assert after.as_dict() == TruthContext(flapped).lun_truth(b01, gold).as_dict()
