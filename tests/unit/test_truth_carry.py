"""A TruthContext built on the one before (the service's loop: ``shared_context``) reuses only the judgements
nothing changed under: whatever the faults, its truths are a fresh context's."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext
from vsguesttruth.truth.hostindex import HostIndex, unchanged

from fakes import inventory as f
from fakes.inventory import FAULTS

LEVELS = (ServiceLevel(), ServiceLevel(min_working_paths=4))


def truths(ctx: TruthContext, level: ServiceLevel) -> list[dict]:
    return [t.as_dict() for t in ctx.vm_truths(level)]


@settings(max_examples=150, deadline=None)
@given(st.lists(FAULTS, min_size=1, max_size=5), st.sampled_from(LEVELS), st.booleans())
def test_a_context_built_on_the_one_before_judges_as_a_fresh_one(steps, level, restore):
    index = HostIndex()
    inv = f.lab_inventory()
    TruthContext(inv, index).vm_truths(level)
    for faults in steps:
        for fault in faults:
            inv = f.apply(inv, fault)  # one change after the other: the hosts it did not touch stay the same
        if restore:
            inv = f.set_hba(inv, "esx-a01", "vmhba2", "ok")
        carried = TruthContext(inv, index)
        assert truths(carried, level) == truths(TruthContext(inv), level)


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
