"""The vCenter edge's Automation API module against the lab, through Broadcom's SDK: the session (same settings
and TLS trust as SOAP, logged in again after vCenter ends it, vAPI errors as one-line project errors), tags read
in one batch for the scope and replicas, and VM data sets. Tags a test attaches are detached by it."""

from __future__ import annotations

import pytest
from com.vmware.cis.tagging_client import TagAssociation

from vsguesttruth.lab import Lab
from vsguesttruth.model import Tagged
from vsguesttruth.vcenter import (
    AuthError,
    CertificateError,
    ConnectionSettings,
    NotFound,
    SessionExpired,
    TagCache,
    find_object,
    replicas,
    snapshot,
)
from vsguesttruth.vcenter.automation import DataSetInfo, ObjectRef, Tagging, VmDataSets, connect_automation

pytestmark = pytest.mark.lab


def settings(info, **kw) -> ConnectionSettings:
    return ConnectionSettings(**({"url": info.url, "username": info.username, "password": info.password,
                                  "ca_file": info.cert} | kw))


@pytest.fixture(scope="module")
def api(lab):
    session = connect_automation(settings(lab))
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def tagging(api, conn):
    """Tagging, and afterwards every tag it attached detached again."""
    tags = Tagging(api)
    attached: list[tuple[str, str, ObjectRef]] = []
    original = tags.attach

    def attach(category, tag, ref):
        original(category, tag, ref)
        attached.append((category, tag, ref))

    tags.attach = attach
    yield tags
    for category, tag, ref in attached:
        tags.detach(category, tag, ref)


def test_a_session_with_the_connection_settings_and_its_errors(lab):
    info = lab.info
    assert connect_automation(settings(info)).generation == 1
    assert connect_automation(settings(info, ca_file=None, thumbprint=info.thumbprint)).generation == 1  # pinned
    with pytest.raises(CertificateError) as untrusted:
        connect_automation(settings(info, ca_file=None))
    assert "--thumbprint" in str(untrusted.value) and untrusted.value.seen_thumbprint == info.thumbprint
    with pytest.raises(AuthError) as wrong:
        connect_automation(settings(info, password="not-the-password-123"))
    assert "not-the-password-123" not in str(wrong.value) and "\n" not in str(wrong.value)
    readonly = connect_automation(settings(info, username=info.readonly_username, password=info.readonly_password))
    vm = find_object_in(lab, "web01")
    with pytest.raises(AuthError) as denied:
        VmDataSets(readonly).create(vm, DataSetInfo("vsgt-test-denied"))
    assert "may not create data set vsgt-test-denied" in str(denied.value)
    readonly.close()


def find_object_in(lab, name: str) -> str:
    from vsguesttruth.vcenter import connect

    conn = connect(settings(lab.info))
    try:
        return find_object(conn, "VirtualMachine", name).moref
    finally:
        conn.close()


def test_an_ended_session_is_logged_in_again(tmp_path):
    own = Lab(tmp_path / "lab")
    info = own.up()
    try:
        api = connect_automation(settings(info))
        tags = Tagging(api)
        tags.attached(categories=["nothing-here"])
        assert own.expire_sessions() >= 1
        assert tags.attached(categories=["nothing-here"]) == {}  # the next call logs in again, once
        assert api.generation == 2
        api.close()
        with pytest.raises(SessionExpired):
            api.relogin(api.generation)
    finally:
        own.down()


def test_tags_are_read_in_one_batch(api, tagging, conn):
    inv = snapshot(conn)
    web01 = ObjectRef("VirtualMachine", inv.vm_by_name("web01").moref)
    host = ObjectRef("HostSystem", inv.host_by_name("esx-b01").moref)
    cluster = find_object(conn, "ClusterComputeResource", "cl-a")
    tagging.attach("vsgt-test-scope", "on", web01)
    tagging.attach("vsgt-test-scope", "on", host)
    tagging.attach("vsgt-test-scope", "also", cluster)
    assert tagging.tags_of(web01) == [("vsgt-test-scope", "on")]
    batches = []
    association = api.service(TagAssociation)
    real = association.list_attached_objects_on_tags
    association.list_attached_objects_on_tags = lambda ids: batches.append(ids) or real(ids)
    try:
        found = tagging.attached(categories=["vsgt-test-scope"], tags=[("no-such", "tag")])
    finally:
        del association.list_attached_objects_on_tags
    assert len(batches) == 1 and len(batches[0]) == 2  # both tags of the category, one call
    assert found == {("vsgt-test-scope", "on"): frozenset({web01, host}), ("vsgt-test-scope", "also"): frozenset({cluster})}
    assert tagging.detach("vsgt-test-scope", "on", web01) and tagging.tags_of(web01) == []
    assert tagging.detach("no-such-category", "x", web01) is False


def test_the_tag_cache_gives_the_scope_and_the_replicas(api, tagging, conn):
    inv = snapshot(conn)
    web02 = inv.vm_by_name("web02").moref
    gold = next(d for d in inv.datastores.values() if d.name == "ds-gold")
    replica = next(d for d in inv.datastores.values() if d.name == "ds-gold-replica")
    tagging.attach("vsgt-test-scope", "on", ObjectRef("VirtualMachine", web02))
    tagging.attach("vsgt-test-scope", "on", find_object(conn, "ClusterComputeResource", "cl-b"))
    tagging.attach("vsgt-test-scope", "off", ObjectRef("Datastore", gold.moref))
    tagging.attach("vsgt-test-replica-of", "ds-gold", ObjectRef("Datastore", replica.moref))
    cache = TagCache(conn, [("vsgt-test-scope", "on")], [("vsgt-test-scope", "off")], "vsgt-test-replica-of", api=api)
    assert cache.tagged is None and cache.refresh()
    assert cache.tagged == Tagged(vms=frozenset({web02}), clusters=frozenset({"cl-b"}))
    assert cache.excluded == Tagged(datastores=frozenset({gold.moref}))
    assert cache.replicas == {"ds-gold": "ds-gold-replica"}
    assert replicas(conn, category="vsgt-test-replica-of", api=api) == {"ds-gold": "ds-gold-replica"}
    assert TagCache(conn).wanted is False
    with pytest.raises(NotFound):
        find_object(conn, "Datastore", "no-such-datastore")


def test_vm_data_sets(api, conn):
    inv = snapshot(conn)
    vm = inv.vm_by_name("app01")
    old = next(v for v in inv.vms.values() if v.hardware_version and int(v.hardware_version[4:]) < 20)
    sets = VmDataSets(api)
    assert sets.names(old.moref) is None  # older hardware: no data sets
    assert sets.get(old.moref, "vsgt-test", "k") is None
    spec = DataSetInfo("vsgt-test", "a test", "READ_WRITE", "READ_ONLY", True)
    sets.create(vm.moref, spec)
    sets.create(vm.moref, spec)  # there already: left as it is
    assert "vsgt-test" in sets.names(vm.moref)
    assert sets.info(vm.moref, "vsgt-test").same_rules(spec)
    sets.update(vm.moref, DataSetInfo("vsgt-test", "a test", "READ_WRITE", "READ_WRITE", False))
    assert sets.info(vm.moref, "vsgt-test").guest == "READ_WRITE"
    assert sets.get(vm.moref, "vsgt-test", "state") is None and sets.keys(vm.moref, "vsgt-test") == set()
    assert sets.set(vm.moref, "vsgt-test", "state", "x" * 70000)  # beyond guestinfo's 64 KiB message
    assert sets.get(vm.moref, "vsgt-test", "state") == "x" * 70000 and sets.keys(vm.moref, "vsgt-test") == {"state"}
    assert sets.set(vm.moref, "no-such-set", "k", "v") is False and sets.keys(vm.moref, "no-such-set") is None
