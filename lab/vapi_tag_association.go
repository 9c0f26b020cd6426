package main

// Tag associations (com.vmware.cis.tagging.tag_association), as vCenter answers them:
//   - attach: the tag must exist (not_found); the object must be an inventory object of the
//     lab (a moref of that type; invalid_argument otherwise); the category's associable types
//     (empty: any) and its cardinality (SINGLE: one tag of the category per object) must allow
//     it (invalid_argument); attaching again is a no-op; needs InventoryService.Tagging.AttachTag;
//   - detach: not_found for an unknown tag, a no-op when not attached;
//   - the batch calls (attach_multiple_tags_to_object, attach_tag_to_multiple_objects and the
//     detach ones) answer a batch_result: success, and one message per failed element;
//   - list_attached_objects, list_attached_tags, list_attached_objects_on_tags (unknown tags
//     left out), list_attached_tags_on_objects (one entry per object asked),
//     list_attachable_tags.
// Every association is journaled; a replay applies the last state of each tag and object:
//
//	{"t":"tag_association","tag":"urn:...","type":"VirtualMachine","id":"vm-42","attached":true}

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	const svc = "com.vmware.cis.tagging.tag_association"
	registerVapi(
		vapiOp{service: svc, op: "attach", rest: "POST /cis/tagging/tag-association/{tag_id}?action=attach",
			fields: []string{"tag_id", "object_id"}, run: vcHandleAttach(true)},
		vapiOp{service: svc, op: "detach", rest: "POST /cis/tagging/tag-association/{tag_id}?action=detach",
			fields: []string{"tag_id", "object_id"}, run: vcHandleAttach(false)},
		vapiOp{service: svc, op: "attach_multiple_tags_to_object", rest: "POST /cis/tagging/tag-association?action=attach-multiple-tags-to-object",
			fields: []string{"object_id", "tag_ids"}, run: vcHandleTagsOnObject(true)},
		vapiOp{service: svc, op: "detach_multiple_tags_from_object", rest: "POST /cis/tagging/tag-association?action=detach-multiple-tags-from-object",
			fields: []string{"object_id", "tag_ids"}, run: vcHandleTagsOnObject(false)},
		vapiOp{service: svc, op: "attach_tag_to_multiple_objects", rest: "POST /cis/tagging/tag-association/{tag_id}?action=attach-tag-to-multiple-objects",
			fields: []string{"tag_id", "object_ids"}, run: vcHandleTagOnObjects(true)},
		vapiOp{service: svc, op: "detach_tag_from_multiple_objects", rest: "POST /cis/tagging/tag-association/{tag_id}?action=detach-tag-from-multiple-objects",
			fields: []string{"tag_id", "object_ids"}, run: vcHandleTagOnObjects(false)},
		vapiOp{service: svc, op: "list_attached_objects", rest: "POST /cis/tagging/tag-association/{tag_id}?action=list-attached-objects",
			fields: []string{"tag_id"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				id, err := c.in.str("tag_id")
				if err != nil {
					return nil, err
				}
				return vcTaggingRead(func() (interface{}, *vapiError) {
					if vcTagging.tags[id] == nil {
						return nil, vcTagNotFound("Tag", id)
					}
					return vcObjectsOf(id), nil
				})
			}},
		vapiOp{service: svc, op: "list_attached_tags", rest: "POST /cis/tagging/tag-association?action=list-attached-tags",
			fields: []string{"object_id"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				obj, err := c.in.dynID("object_id")
				if err != nil {
					return nil, err
				}
				return vcTaggingRead(func() (interface{}, *vapiError) { return vcTagsOf(obj), nil })
			}},
		vapiOp{service: svc, op: "list_attached_objects_on_tags", rest: "POST /cis/tagging/tag-association?action=list-attached-objects-on-tags",
			fields: []string{"tag_ids"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				ids, err := c.in.strList("tag_ids")
				if err != nil {
					return nil, err
				}
				return vcTaggingRead(func() (interface{}, *vapiError) {
					out := []interface{}{}
					for _, id := range ids {
						if vcTagging.tags[id] != nil {
							out = append(out, newStruct("com.vmware.cis.tagging.tag_association.tag_to_objects",
								"tag_id", id, "object_ids", vcObjectsOf(id)))
						}
					}
					return out, nil
				})
			}},
		vapiOp{service: svc, op: "list_attached_tags_on_objects", rest: "POST /cis/tagging/tag-association?action=list-attached-tags-on-objects",
			fields: []string{"object_ids"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				objs, err := c.in.dynIDList("object_ids")
				if err != nil {
					return nil, err
				}
				return vcTaggingRead(func() (interface{}, *vapiError) {
					out := make([]interface{}, 0, len(objs))
					for _, obj := range objs {
						out = append(out, newStruct("com.vmware.cis.tagging.tag_association.object_to_tags",
							"object_id", obj.out(), "tag_ids", vcTagsOf(obj)))
					}
					return out, nil
				})
			}},
		vapiOp{service: svc, op: "list_attachable_tags", rest: "POST /cis/tagging/tag-association?action=list-attachable-tags",
			fields: []string{"object_id"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				obj, err := c.in.dynID("object_id")
				if err != nil {
					return nil, err
				}
				return vcTaggingRead(func() (interface{}, *vapiError) {
					ids := []string{}
					for id := range vcTagging.tags {
						if !vcTagging.byTag[id][obj] && vcCanAttach(id, obj) == nil {
							ids = append(ids, id)
						}
					}
					return vcTagIDs(ids), nil
				})
			}},
	)
	registerJournalLatest("tag_association", func(e *journalEntry) string {
		var r vcAssociationRecord
		_ = e.decode(&r)
		return r.Tag + "\x00" + r.Type + "\x00" + r.ID
	}, replayAssociation)
}

type vcAssociationRecord struct {
	Tag      string `json:"tag"`
	Type     string `json:"type"`
	ID       string `json:"id"`
	Attached bool   `json:"attached"`
}

// vcObjectsOf and vcTagsOf answer in a stable order (vcTagging locked).
func vcObjectsOf(tagID string) []interface{} {
	objs := make([]vapiDynID, 0, len(vcTagging.byTag[tagID]))
	for o := range vcTagging.byTag[tagID] {
		objs = append(objs, o)
	}
	vcSortDynIDs(objs)
	out := make([]interface{}, len(objs))
	for i, o := range objs {
		out[i] = o.out()
	}
	return out
}

func vcTagsOf(obj vapiDynID) []interface{} {
	ids := make([]string, 0, len(vcTagging.byObject[obj]))
	for id := range vcTagging.byObject[obj] {
		ids = append(ids, id)
	}
	return vcTagIDs(ids)
}

func vcSortDynIDs(objs []vapiDynID) {
	for i := 1; i < len(objs); i++ { // insertion sort: lists are short
		for j := i; j > 0 && (objs[j].Type < objs[j-1].Type || objs[j].Type == objs[j-1].Type && objs[j].ID < objs[j-1].ID); j-- {
			objs[j], objs[j-1] = objs[j-1], objs[j]
		}
	}
}

// vcCanAttach checks a tag's category rules for an object (vcTagging locked).
func vcCanAttach(tagID string, obj vapiDynID) *vapiError {
	t := vcTagging.tags[tagID]
	if t == nil {
		return vcTagNotFound("Tag", tagID)
	}
	if obj.Type == "" || obj.ID == "" || simulator.Map.Get(types.ManagedObjectReference{Type: obj.Type, Value: obj.ID}) == nil {
		return vcTagInvalid(fmt.Sprintf("The object %s:%s is not valid.", obj.Type, obj.ID))
	}
	c := vcTagging.categories[t.CategoryID]
	if c == nil {
		return vcTagNotFound("Category", t.CategoryID)
	}
	if len(c.Types) > 0 && !vcContains(c.Types, obj.Type) {
		return vcTagInvalid(fmt.Sprintf("Tags of category %s cannot be attached to objects of type %s.", c.Name, obj.Type))
	}
	if c.Cardinality == "SINGLE" {
		for other := range vcTagging.byObject[obj] {
			if other != tagID && vcTagging.tags[other] != nil && vcTagging.tags[other].CategoryID == c.ID {
				return vcTagInvalid(fmt.Sprintf("The object already has a tag of category %s, which allows one.", c.Name))
			}
		}
	}
	return nil
}

// vcAssociate attaches or detaches (vcTagging locked); true when something changed.
func vcAssociate(tagID string, obj vapiDynID, attach bool) (bool, *vapiError) {
	if !attach {
		if vcTagging.tags[tagID] == nil {
			return false, vcTagNotFound("Tag", tagID)
		}
		if !vcTagging.byTag[tagID][obj] {
			return false, nil
		}
		delete(vcTagging.byTag[tagID], obj)
		delete(vcTagging.byObject[obj], tagID)
		return true, nil
	}
	if err := vcCanAttach(tagID, obj); err != nil {
		return false, err
	}
	if vcTagging.byTag[tagID][obj] {
		return false, nil
	}
	if vcTagging.byTag[tagID] == nil {
		vcTagging.byTag[tagID] = map[vapiDynID]bool{}
	}
	if vcTagging.byObject[obj] == nil {
		vcTagging.byObject[obj] = map[string]bool{}
	}
	vcTagging.byTag[tagID][obj] = true
	vcTagging.byObject[obj][tagID] = true
	return true, nil
}

func vcJournalAssociation(tagID string, obj vapiDynID, attached bool) {
	vcJournal.write("tag_association", map[string]interface{}{"tag": tagID, "type": obj.Type, "id": obj.ID, "attached": attached})
}

func vcHandleAttach(attach bool) func(c *vapiCall) (interface{}, *vapiError) {
	return func(c *vapiCall) (interface{}, *vapiError) {
		id, err := c.in.str("tag_id")
		if err != nil {
			return nil, err
		}
		obj, err := c.in.dynID("object_id")
		if err != nil {
			return nil, err
		}
		return vcTaggingChange(c, "InventoryService.Tagging.AttachTag", func() (interface{}, *vapiError) {
			changed, err := vcAssociate(id, obj, attach)
			if changed {
				vcJournalAssociation(id, obj, attach)
			}
			return nil, err
		}, nil)
	}
}

// vcBatch applies associations one by one: a batch_result with a message per failure.
func vcBatch(pairs [][2]interface{}, attach bool) vapiStruct {
	var msgs []interface{}
	for _, p := range pairs {
		id, obj := p[0].(string), p[1].(vapiDynID)
		changed, err := vcAssociate(id, obj, attach)
		if err != nil {
			msgs = append(msgs, err.message())
			continue
		}
		if changed {
			vcJournalAssociation(id, obj, attach)
		}
	}
	if msgs == nil {
		msgs = []interface{}{}
	}
	return newStruct("com.vmware.cis.tagging.tag_association.batch_result", "success", len(msgs) == 0, "error_messages", msgs)
}

func vcHandleTagsOnObject(attach bool) func(c *vapiCall) (interface{}, *vapiError) {
	return func(c *vapiCall) (interface{}, *vapiError) {
		obj, err := c.in.dynID("object_id")
		if err != nil {
			return nil, err
		}
		ids, err := c.in.strList("tag_ids")
		if err != nil {
			return nil, err
		}
		return vcTaggingChange(c, "InventoryService.Tagging.AttachTag", func() (interface{}, *vapiError) {
			pairs := make([][2]interface{}, len(ids))
			for i, id := range ids {
				pairs[i] = [2]interface{}{id, obj}
			}
			return vcBatch(pairs, attach), nil
		}, nil)
	}
}

func vcHandleTagOnObjects(attach bool) func(c *vapiCall) (interface{}, *vapiError) {
	return func(c *vapiCall) (interface{}, *vapiError) {
		id, err := c.in.str("tag_id")
		if err != nil {
			return nil, err
		}
		objs, err := c.in.dynIDList("object_ids")
		if err != nil {
			return nil, err
		}
		return vcTaggingChange(c, "InventoryService.Tagging.AttachTag", func() (interface{}, *vapiError) {
			if vcTagging.tags[id] == nil {
				return nil, vcTagNotFound("Tag", id)
			}
			pairs := make([][2]interface{}, len(objs))
			for i, obj := range objs {
				pairs[i] = [2]interface{}{id, obj}
			}
			return vcBatch(pairs, attach), nil
		}, nil)
	}
}

func replayAssociation(l *Lab, e *journalEntry) error {
	var r vcAssociationRecord
	if err := e.decode(&r); err != nil {
		return err
	}
	vcTagging.Lock()
	defer vcTagging.Unlock()
	if _, err := vcAssociate(r.Tag, vapiDynID{Type: r.Type, ID: r.ID}, r.Attached); err != nil {
		return fmt.Errorf("%s on %s:%s: %s", r.Tag, r.Type, r.ID, err.msg)
	}
	return nil
}
