"""The lab's tagging service (com.vmware.cis.tagging: category, tag, tag_association) as vCenter answers
it, through Broadcom's SDK (JSON-RPC) and the REST forms under /api/cis/tagging (lab/README.md). Each
test deletes the categories it made (deleting a category deletes its tags and their associations).
"""

from __future__ import annotations

import uuid

import pytest
from com.vmware.cis.tagging_client import Category, CategoryModel, Tag
from com.vmware.vapi.std.errors_client import AlreadyExists, InvalidArgument, NotFound
from com.vmware.vapi.std_client import DynamicID
from fakes.automation import rest, rest_login, sdk

pytestmark = pytest.mark.lab


@pytest.fixture
def tagging(lab):
    client = sdk(lab)
    made = []

    def category(cardinality="MULTIPLE", types=()):
        cid = client.tagging.Category.create(Category.CreateSpec(
            name=f"vsgt-test-{uuid.uuid4().hex[:8]}", description="test",
            cardinality=getattr(CategoryModel.Cardinality, cardinality), associable_types=set(types)))
        made.append(cid)
        return cid

    client.new_category = category
    yield client
    for cid in made:
        try:
            client.tagging.Category.delete(cid)
        except NotFound:
            pass


def objects(lab) -> dict:
    topo = lab.topology()
    return {
        "vm": DynamicID(type="VirtualMachine", id=topo["vms"][0]["moref"]),
        "vm2": DynamicID(type="VirtualMachine", id=topo["vms"][1]["moref"]),
        "host": DynamicID(type="HostSystem", id=topo["hosts"][0]["moref"]),
    }


def test_categories_and_tags_keep_vcenters_rules(tagging):
    cid = tagging.new_category("SINGLE", ["VirtualMachine"])
    model = tagging.tagging.Category.get(cid)
    assert model.id == cid and model.cardinality == CategoryModel.Cardinality.SINGLE
    assert model.associable_types == {"VirtualMachine"} and model.used_by == set()
    assert cid.startswith("urn:vmomi:InventoryServiceCategory:") and cid in tagging.tagging.Category.list()
    with pytest.raises(AlreadyExists):
        tagging.tagging.Category.create(Category.CreateSpec(
            name=model.name, description="", cardinality=CategoryModel.Cardinality.SINGLE, associable_types=set()))
    # associable types only grow; cardinality only goes from SINGLE to MULTIPLE
    with pytest.raises(InvalidArgument):
        tagging.tagging.Category.update(cid, Category.UpdateSpec(associable_types={"HostSystem"}))
    tagging.tagging.Category.update(cid, Category.UpdateSpec(associable_types={"VirtualMachine", "HostSystem"},
                                                              cardinality=CategoryModel.Cardinality.MULTIPLE))
    with pytest.raises(InvalidArgument):
        tagging.tagging.Category.update(cid, Category.UpdateSpec(cardinality=CategoryModel.Cardinality.SINGLE))
    assert tagging.tagging.Category.get(cid).associable_types == {"VirtualMachine", "HostSystem"}

    tid = tagging.tagging.Tag.create(Tag.CreateSpec(name="out-of-scope", description="d", category_id=cid))
    assert tid.startswith("urn:vmomi:InventoryServiceTag:")
    tag = tagging.tagging.Tag.get(tid)
    assert (tag.name, tag.category_id, tag.description) == ("out-of-scope", cid, "d")
    with pytest.raises(AlreadyExists):
        tagging.tagging.Tag.create(Tag.CreateSpec(name="out-of-scope", description="", category_id=cid))
    with pytest.raises(NotFound):
        tagging.tagging.Tag.create(Tag.CreateSpec(name="x", description="", category_id=cid.replace("-", "0", 1)))
    tagging.tagging.Tag.update(tid, Tag.UpdateSpec(description="renamed"))
    assert tagging.tagging.Tag.get(tid).description == "renamed"
    assert tagging.tagging.Tag.list_tags_for_category(cid) == [tid]
    tagging.tagging.Category.add_to_used_by(cid, "vsguesttruth")
    assert tagging.tagging.Category.list_used_categories("vsguesttruth") == [cid]
    tagging.tagging.Category.delete(cid)
    with pytest.raises(NotFound):
        tagging.tagging.Tag.get(tid)  # went with its category


def test_associations_follow_cardinality_and_associable_types(tagging, lab):
    obj = objects(lab)
    single = tagging.new_category("SINGLE", ["VirtualMachine"])
    a = tagging.tagging.Tag.create(Tag.CreateSpec(name="a", description="", category_id=single))
    b = tagging.tagging.Tag.create(Tag.CreateSpec(name="b", description="", category_id=single))
    assoc = tagging.tagging.TagAssociation
    assoc.attach(a, obj["vm"])
    assoc.attach(a, obj["vm"])  # again: a no-op
    with pytest.raises(InvalidArgument):
        assoc.attach(b, obj["vm"])  # one tag of a SINGLE category per object
    with pytest.raises(InvalidArgument):
        assoc.attach(a, obj["host"])  # not an associable type
    with pytest.raises(InvalidArgument):
        assoc.attach(a, DynamicID(type="VirtualMachine", id="vm-nope"))
    with pytest.raises(NotFound):
        assoc.attach(a.replace("-", "0", 1), obj["vm"])
    assert assoc.list_attached_objects(a) == [obj["vm"]]
    assert assoc.list_attached_tags(obj["vm"]) == [a]
    assert b not in assoc.list_attachable_tags(obj["vm"])
    assoc.detach(a, obj["vm"])
    assoc.detach(a, obj["vm"])  # again: a no-op
    assert b in assoc.list_attachable_tags(obj["vm"])


def test_batch_reads_and_writes(tagging, lab):
    obj = objects(lab)
    cid = tagging.new_category()
    scope = tagging.tagging.Tag.create(Tag.CreateSpec(name="scope", description="", category_id=cid))
    replica = tagging.tagging.Tag.create(Tag.CreateSpec(name="replica", description="", category_id=cid))
    assoc = tagging.tagging.TagAssociation
    result = assoc.attach_multiple_tags_to_object(obj["vm"], [scope, replica, "urn:vmomi:InventoryServiceTag:x:GLOBAL"])
    assert result.success is False and len(result.error_messages) == 1
    result = assoc.attach_tag_to_multiple_objects(scope, [obj["vm2"], obj["host"]])
    assert result.success is True and result.error_messages == []
    on_tags = {t.tag_id: {(o.type, o.id) for o in t.object_ids} for t in assoc.list_attached_objects_on_tags([scope, replica])}
    assert on_tags == {scope: {(obj["vm"].type, obj["vm"].id), (obj["vm2"].type, obj["vm2"].id), (obj["host"].type, obj["host"].id)},
                       replica: {(obj["vm"].type, obj["vm"].id)}}
    on_objects = assoc.list_attached_tags_on_objects([obj["vm"], obj["host"]])
    assert [(o.object_id.id, set(o.tag_ids)) for o in on_objects] == [(obj["vm"].id, {scope, replica}), (obj["host"].id, {scope})]
    assert assoc.detach_multiple_tags_from_object(obj["vm"], [scope, replica]).success
    assert assoc.detach_tag_from_multiple_objects(scope, [obj["vm2"], obj["host"]]).success
    assert assoc.list_attached_objects(scope) == []


def test_rest_forms_of_tagging(lab):
    obj = objects(lab)
    with rest(lab) as api:
        rest_login(api, lab)
        name = f"vsgt-rest-{uuid.uuid4().hex[:8]}"
        created = api.post("/cis/tagging/category", json={
            "name": name, "description": "", "cardinality": "MULTIPLE", "associable_types": []})
        assert created.status_code == 201, created.text
        cid = created.json()
        try:
            got = api.get(f"/cis/tagging/category/{cid}").json()
            assert got == {"id": cid, "name": name, "description": "", "cardinality": "MULTIPLE",
                           "associable_types": [], "used_by": []}
            assert cid in api.get("/cis/tagging/category").json()
            tid = api.post("/cis/tagging/tag", json={"name": "t", "description": "", "category_id": cid}).json()
            attach = api.post(f"/cis/tagging/tag-association/{tid}?action=attach",
                              json={"object_id": {"type": obj["vm"].type, "id": obj["vm"].id}})
            assert attach.status_code == 204, attach.text
            listed = api.post("/cis/tagging/tag-association?action=list-attached-objects-on-tags", json={"tag_ids": [tid]})
            assert listed.json() == [{"tag_id": tid, "object_ids": [{"type": obj["vm"].type, "id": obj["vm"].id}]}]
            tags = api.post("/cis/tagging/tag-association?action=list-attached-tags-on-objects",
                            json={"object_ids": [{"type": obj["vm"].type, "id": obj["vm"].id}]})
            assert tags.json() == [{"object_id": {"type": obj["vm"].type, "id": obj["vm"].id}, "tag_ids": [tid]}]
            assert api.patch(f"/cis/tagging/tag/{tid}", json={"description": "new"}).status_code == 204
            missing = api.get("/cis/tagging/tag/urn:vmomi:InventoryServiceTag:nope:GLOBAL")
            assert missing.status_code == 404 and missing.json()["error_type"] == "NOT_FOUND"
            bad = api.post("/cis/tagging/category", json={"name": name, "description": "", "cardinality": "MULTIPLE",
                                                           "associable_types": [], "surprise": 1})
            assert bad.status_code == 400 and bad.json()["error_type"] == "INVALID_ARGUMENT"
            dup = api.post("/cis/tagging/category", json={"name": name, "description": "", "cardinality": "MULTIPLE",
                                                           "associable_types": []})
            assert dup.status_code == 400 and dup.json()["error_type"] == "ALREADY_EXISTS"
        finally:
            assert api.delete(f"/cis/tagging/category/{cid}").status_code == 204
