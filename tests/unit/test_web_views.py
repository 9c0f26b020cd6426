"""The pages' views built on the views of the inventory before: what they take over is what a fresh build gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vsguesttruth.config import GuestConfig
from vsguesttruth.truth import TruthContext
from vsguesttruth.web.pages import Pages
from vsguesttruth.web.source import StaticSource
from vsguesttruth.web.views import Views

from fakes import inventory as f
from fakes.inventory import FAULTS, apply


def fresh(pages: Pages, inv) -> Views:
    return Views(inv, TruthContext(inv), pages.level_of)


@settings(max_examples=40)
@given(st.lists(FAULTS, min_size=1, max_size=5), st.lists(st.booleans(), min_size=5, max_size=5))
def test_views_taken_over_from_the_inventory_before_equal_a_fresh_build(steps, asked):
    source = StaticSource(f.lab_inventory())
    pages = Pages(source, GuestConfig())
    pages.get()[2].disks
    pages.get()[2].hosts
    inv = source.latest()
    for faults, ask in zip(steps, asked):
        for fault in faults:  # cumulative: each step changes a few objects of the inventory before
            inv = apply(inv, fault)
        source.set(inv)
        if ask:  # views nobody asked for are never built; the next one starts from the last built
            _, _, views = pages.get()
            again = fresh(pages, inv)
            assert views.disks == again.disks and views.vms == again.vms and views.counts == again.counts
            assert views.hosts == again.hosts
    _, _, views = pages.get()
    again = fresh(pages, inv)
    assert views.disks == again.disks and views.vms == again.vms and views.hosts == again.hosts


def test_rows_of_untouched_vms_are_the_same_objects_and_a_fault_rejudges_its_host():
    source = StaticSource(f.lab_inventory())
    pages = Pages(source, GuestConfig())
    before = {r["moref"]: r for r in pages.get()[2].vms}
    source.set(f.set_hba(source.latest(), "esx-a01", "vmhba2", "dead"))
    after = {r["moref"]: r for r in pages.get()[2].vms}
    on_a01 = {m for m, r in after.items() if r["host"] == "esx-a01"}
    assert on_a01 and all(after[m] is before[m] for m in after if m not in on_a01)
    assert after[f.vm_moref("web01")]["verdict"] == "degraded"


def test_rows_of_untouched_hosts_are_the_same_objects():
    source = StaticSource(f.lab_inventory())
    pages = Pages(source, GuestConfig())
    before = {r["name"]: r for r in pages.get()[2].hosts}
    source.set(f.set_hba(source.latest(), "esx-a01", "vmhba2", "dead"))
    views = pages.get()[2]
    after = {r["name"]: r for r in views.hosts}
    assert after["esx-a01"] is not before["esx-a01"] and after["esx-a01"]["badges"]
    assert all(after[n] is before[n] for n in after if n != "esx-a01")
    assert views.hosts == fresh(pages, source.latest()).hosts
