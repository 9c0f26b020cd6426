package main

// Tag categories and tags (com.vmware.cis.tagging.category, .tag), as vCenter's tagging service
// answers them (the SDK bindings' documentation is the reference):
//   - ids are urn:vmomi:InventoryServiceCategory:<uuid>:GLOBAL and
//     urn:vmomi:InventoryServiceTag:<uuid>:GLOBAL; a create may bring its own (category_id,
//     tag_id);
//   - a category name is unique (already_exists), a tag name unique within its category; a tag's
//     category must exist (not_found); cardinality SINGLE or MULTIPLE;
//   - category update: associable types "can only grow and not shrink" (an empty set means every
//     type and cannot be narrowed), cardinality may go from SINGLE to MULTIPLE only (the vSphere
//     Client's rule) -- anything else is invalid_argument;
//   - deleting a category deletes its tags, deleting a tag detaches it everywhere;
//   - changes need the InventoryService.Tagging.* privileges (the read-only user is
//     unauthorized); reads need none beyond a session.
// vCenter keeps tags in its database: every change is journaled and replayed in order, ids kept:
//
//	{"t":"tagging","op":"category_create","category":{...}}   and category_update, category_delete,
//	tag_create, tag_update, tag_delete, used_by (the whole record each time, or the id)
// Associations are vapi_tag_association.go.

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"
)

type vcTagCategory struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Cardinality string   `json:"cardinality"`
	Types       []string `json:"associable_types"`
	UsedBy      []string `json:"used_by"`
}

type vcTag struct {
	ID          string   `json:"id"`
	CategoryID  string   `json:"category_id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	UsedBy      []string `json:"used_by"`
}

// vcTagging is the tagging service's state; order keeps list answers stable (creation order).
var vcTagging = struct {
	sync.Mutex
	categories map[string]*vcTagCategory
	tags       map[string]*vcTag
	order      map[string]int
	seq        int
	byTag      map[string]map[vapiDynID]bool // tag id -> attached objects
	byObject   map[vapiDynID]map[string]bool // object -> attached tag ids
}{categories: map[string]*vcTagCategory{}, tags: map[string]*vcTag{}, order: map[string]int{},
	byTag: map[string]map[vapiDynID]bool{}, byObject: map[vapiDynID]map[string]bool{}}

func (c *vcTagCategory) out() vapiStruct {
	return newStruct("com.vmware.cis.tagging.category_model", "id", c.ID, "name", c.Name,
		"description", c.Description, "cardinality", c.Cardinality,
		"associable_types", vapiStrings(c.Types), "used_by", vapiStrings(c.UsedBy))
}

func (t *vcTag) out() vapiStruct {
	return newStruct("com.vmware.cis.tagging.tag_model", "id", t.ID, "category_id", t.CategoryID,
		"name", t.Name, "description", t.Description, "used_by", vapiStrings(t.UsedBy))
}

func vcTagNotFound(kind, id string) *vapiError {
	return vapiErr("not_found", "com.vmware.cis.tagging.objectNotFound.error",
		fmt.Sprintf("%s %s does not exist.", kind, id))
}

func vcTagInvalid(msg string) *vapiError {
	return vapiErr("invalid_argument", "com.vmware.cis.tagging.invalidArgument.error", msg)
}

// vcTagIDs returns the ids of a map in creation order (vcTagging locked).
func vcTagIDs(ids []string) []interface{} {
	sort.Slice(ids, func(i, j int) bool { return vcTagging.order[ids[i]] < vcTagging.order[ids[j]] })
	return vapiStrings(ids)
}

func vcTagRemember(id string) {
	vcTagging.seq++
	vcTagging.order[id] = vcTagging.seq
}

func vcNewTagID(kind, given string) (string, *vapiError) {
	if given == "" {
		return "urn:vmomi:" + kind + ":" + uuid.New().String() + ":GLOBAL", nil
	}
	if !strings.HasPrefix(given, "urn:vmomi:"+kind+":") {
		return "", vcTagInvalid("The identifier " + given + " is not a valid " + kind + " identifier.")
	}
	return given, nil
}

// --- changes (SOAP-free; the handlers and the journal replay both call these) ----------------

func vcCategoryCreate(c *vcTagCategory) *vapiError {
	if c.Name == "" {
		return vcTagInvalid("The category name must not be empty.")
	}
	if c.Cardinality != "SINGLE" && c.Cardinality != "MULTIPLE" {
		return vcTagInvalid("Cardinality must be SINGLE or MULTIPLE.")
	}
	for _, other := range vcTagging.categories {
		if other.Name == c.Name {
			return vapiErr("already_exists", "com.vmware.cis.tagging.category.alreadyExists",
				fmt.Sprintf("A category named %s already exists.", c.Name))
		}
	}
	if vcTagging.categories[c.ID] != nil {
		return vapiErr("already_exists", "com.vmware.cis.tagging.category.alreadyExists", "Category "+c.ID+" already exists.")
	}
	vcTagging.categories[c.ID] = c
	vcTagRemember(c.ID)
	return nil
}

// vcCategoryUpdate applies an update (nil fields unchanged).
func vcCategoryUpdate(id string, name, description, cardinality *string, types []string, typesSet bool) *vapiError {
	c := vcTagging.categories[id]
	if c == nil {
		return vcTagNotFound("Category", id)
	}
	next := *c
	if name != nil {
		if *name == "" {
			return vcTagInvalid("The category name must not be empty.")
		}
		for _, other := range vcTagging.categories {
			if other.ID != id && other.Name == *name {
				return vapiErr("already_exists", "com.vmware.cis.tagging.category.alreadyExists",
					fmt.Sprintf("A category named %s already exists.", *name))
			}
		}
		next.Name = *name
	}
	if description != nil {
		next.Description = *description
	}
	if cardinality != nil {
		switch {
		case *cardinality != "SINGLE" && *cardinality != "MULTIPLE":
			return vcTagInvalid("Cardinality must be SINGLE or MULTIPLE.")
		case c.Cardinality == "MULTIPLE" && *cardinality == "SINGLE":
			return vcTagInvalid("The cardinality of a category can only change from SINGLE to MULTIPLE.")
		}
		next.Cardinality = *cardinality
	}
	if typesSet {
		if len(c.Types) == 0 && len(types) > 0 {
			return vcTagInvalid("A category whose tags attach to every type cannot be restricted to some types.")
		}
		for _, t := range c.Types {
			if !vcContains(types, t) {
				return vcTagInvalid("Associable types can only be added, not removed: " + t + " is missing.")
			}
		}
		next.Types = types
	}
	*c = next
	return nil
}

func vcCategoryDelete(id string) *vapiError {
	if vcTagging.categories[id] == nil {
		return vcTagNotFound("Category", id)
	}
	for tid, t := range vcTagging.tags {
		if t.CategoryID == id {
			_ = vcTagDelete(tid)
		}
	}
	delete(vcTagging.categories, id)
	return nil
}

func vcTagCreate(t *vcTag) *vapiError {
	if t.Name == "" {
		return vcTagInvalid("The tag name must not be empty.")
	}
	if vcTagging.categories[t.CategoryID] == nil {
		return vcTagNotFound("Category", t.CategoryID)
	}
	for _, other := range vcTagging.tags {
		if other.CategoryID == t.CategoryID && other.Name == t.Name {
			return vapiErr("already_exists", "com.vmware.cis.tagging.tag.alreadyExists",
				fmt.Sprintf("A tag named %s already exists in this category.", t.Name))
		}
	}
	if vcTagging.tags[t.ID] != nil {
		return vapiErr("already_exists", "com.vmware.cis.tagging.tag.alreadyExists", "Tag "+t.ID+" already exists.")
	}
	vcTagging.tags[t.ID] = t
	vcTagRemember(t.ID)
	return nil
}

func vcTagUpdate(id string, name, description *string) *vapiError {
	t := vcTagging.tags[id]
	if t == nil {
		return vcTagNotFound("Tag", id)
	}
	if name != nil {
		if *name == "" {
			return vcTagInvalid("The tag name must not be empty.")
		}
		for _, other := range vcTagging.tags {
			if other.ID != id && other.CategoryID == t.CategoryID && other.Name == *name {
				return vapiErr("already_exists", "com.vmware.cis.tagging.tag.alreadyExists",
					fmt.Sprintf("A tag named %s already exists in this category.", *name))
			}
		}
		t.Name = *name
	}
	if description != nil {
		t.Description = *description
	}
	return nil
}

func vcTagDelete(id string) *vapiError {
	if vcTagging.tags[id] == nil {
		return vcTagNotFound("Tag", id)
	}
	for obj := range vcTagging.byTag[id] {
		delete(vcTagging.byObject[obj], id)
	}
	delete(vcTagging.byTag, id)
	delete(vcTagging.tags, id)
	return nil
}

// vcUsedBy adds or removes a used_by entity of a category or tag (idempotent).
func vcUsedBy(id, entity string, add bool) *vapiError {
	var list *[]string
	if c := vcTagging.categories[id]; c != nil {
		list = &c.UsedBy
	} else if t := vcTagging.tags[id]; t != nil {
		list = &t.UsedBy
	} else if strings.Contains(id, "InventoryServiceCategory") {
		return vcTagNotFound("Category", id)
	} else {
		return vcTagNotFound("Tag", id)
	}
	if add && !vcContains(*list, entity) {
		*list = append(append([]string{}, *list...), entity)
	}
	if !add {
		out := []string{}
		for _, e := range *list {
			if e != entity {
				out = append(out, e)
			}
		}
		*list = out
	}
	return nil
}

// --- the operations --------------------------------------------------------------------------

// vcTaggingChange runs one change under the lock with its privilege, and journals it.
func vcTaggingChange(c *vapiCall, privilege string, change func() (interface{}, *vapiError), journal func() map[string]interface{}) (interface{}, *vapiError) {
	if err := c.check(privilege); err != nil {
		return nil, err
	}
	vcTagging.Lock()
	defer vcTagging.Unlock()
	out, err := change()
	if err == nil && journal != nil {
		vcJournal.write("tagging", journal())
	}
	return out, err
}

func vcTaggingRead(read func() (interface{}, *vapiError)) (interface{}, *vapiError) {
	vcTagging.Lock()
	defer vcTagging.Unlock()
	return read()
}

func init() {
	const cat, tag = "com.vmware.cis.tagging.category", "com.vmware.cis.tagging.tag"
	usedBy := func(service, kind, idField, privilege string, add bool) func(c *vapiCall) (interface{}, *vapiError) {
		return func(c *vapiCall) (interface{}, *vapiError) {
			id, err := c.in.str(idField)
			if err != nil {
				return nil, err
			}
			entity, err := c.in.str("used_by_entity")
			if err != nil {
				return nil, err
			}
			return vcTaggingChange(c, privilege, func() (interface{}, *vapiError) { return nil, vcUsedBy(id, entity, add) },
				func() map[string]interface{} {
					return map[string]interface{}{"op": "used_by", "id": id, "entity": entity, "add": add}
				})
		}
	}
	listUsed := func(wantCategories bool) func(c *vapiCall) (interface{}, *vapiError) {
		return func(c *vapiCall) (interface{}, *vapiError) {
			entity, err := c.in.str("used_by_entity")
			if err != nil {
				return nil, err
			}
			return vcTaggingRead(func() (interface{}, *vapiError) {
				ids := []string{}
				if wantCategories {
					for id, x := range vcTagging.categories {
						if vcContains(x.UsedBy, entity) {
							ids = append(ids, id)
						}
					}
				} else {
					for id, x := range vcTagging.tags {
						if vcContains(x.UsedBy, entity) {
							ids = append(ids, id)
						}
					}
				}
				return vcTagIDs(ids), nil
			})
		}
	}
	revoke := func(kind, idField string) func(c *vapiCall) (interface{}, *vapiError) {
		return func(c *vapiCall) (interface{}, *vapiError) {
			id, err := c.in.str(idField)
			if err != nil {
				return nil, err
			}
			return vcTaggingRead(func() (interface{}, *vapiError) {
				if vcTagging.categories[id] == nil && vcTagging.tags[id] == nil {
					return nil, vcTagNotFound(kind, id)
				}
				return nil, nil // the lab has no propagating permissions to revoke
			})
		}
	}
	registerVapi(
		vapiOp{service: cat, op: "create", rest: "POST /cis/tagging/category", body: "create_spec", created: true,
			fields: []string{"create_spec"}, run: vcHandleCategoryCreate},
		vapiOp{service: cat, op: "get", rest: "GET /cis/tagging/category/{category_id}", fields: []string{"category_id"},
			run: func(c *vapiCall) (interface{}, *vapiError) {
				id, err := c.in.str("category_id")
				if err != nil {
					return nil, err
				}
				return vcTaggingRead(func() (interface{}, *vapiError) {
					if x := vcTagging.categories[id]; x != nil {
						return x.out(), nil
					}
					return nil, vcTagNotFound("Category", id)
				})
			}},
		vapiOp{service: cat, op: "update", rest: "PATCH /cis/tagging/category/{category_id}", body: "update_spec",
			fields: []string{"category_id", "update_spec"}, run: vcHandleCategoryUpdate},
		vapiOp{service: cat, op: "delete", rest: "DELETE /cis/tagging/category/{category_id}", fields: []string{"category_id"},
			run: func(c *vapiCall) (interface{}, *vapiError) {
				id, err := c.in.str("category_id")
				if err != nil {
					return nil, err
				}
				return vcTaggingChange(c, "InventoryService.Tagging.DeleteCategory",
					func() (interface{}, *vapiError) { return nil, vcCategoryDelete(id) },
					func() map[string]interface{} { return map[string]interface{}{"op": "category_delete", "id": id} })
			}},
		vapiOp{service: cat, op: "list", rest: "GET /cis/tagging/category",
			run: func(c *vapiCall) (interface{}, *vapiError) {
				return vcTaggingRead(func() (interface{}, *vapiError) {
					ids := make([]string, 0, len(vcTagging.categories))
					for id := range vcTagging.categories {
						ids = append(ids, id)
					}
					return vcTagIDs(ids), nil
				})
			}},
		vapiOp{service: cat, op: "list_used_categories", rest: "POST /cis/tagging/category?action=list-used-categories",
			fields: []string{"used_by_entity"}, run: listUsed(true)},
		vapiOp{service: cat, op: "add_to_used_by", rest: "POST /cis/tagging/category/{category_id}?action=add-to-used-by",
			fields: []string{"category_id", "used_by_entity"},
			run:    usedBy(cat, "Category", "category_id", "InventoryService.Tagging.ModifyUsedByForCategory", true)},
		vapiOp{service: cat, op: "remove_from_used_by", rest: "POST /cis/tagging/category/{category_id}?action=remove-from-used-by",
			fields: []string{"category_id", "used_by_entity"},
			run:    usedBy(cat, "Category", "category_id", "InventoryService.Tagging.ModifyUsedByForCategory", false)},
		vapiOp{service: cat, op: "revoke_propagating_permissions", rest: "POST /cis/tagging/category/{category_id}?action=revoke-propagating-permissions",
			fields: []string{"category_id"}, run: revoke("Category", "category_id")},

		vapiOp{service: tag, op: "create", rest: "POST /cis/tagging/tag", body: "create_spec", created: true,
			fields: []string{"create_spec"}, run: vcHandleTagCreate},
		vapiOp{service: tag, op: "get", rest: "GET /cis/tagging/tag/{tag_id}", fields: []string{"tag_id"},
			run: func(c *vapiCall) (interface{}, *vapiError) {
				id, err := c.in.str("tag_id")
				if err != nil {
					return nil, err
				}
				return vcTaggingRead(func() (interface{}, *vapiError) {
					if x := vcTagging.tags[id]; x != nil {
						return x.out(), nil
					}
					return nil, vcTagNotFound("Tag", id)
				})
			}},
		vapiOp{service: tag, op: "update", rest: "PATCH /cis/tagging/tag/{tag_id}", body: "update_spec",
			fields: []string{"tag_id", "update_spec"}, run: vcHandleTagUpdate},
		vapiOp{service: tag, op: "delete", rest: "DELETE /cis/tagging/tag/{tag_id}", fields: []string{"tag_id"},
			run: func(c *vapiCall) (interface{}, *vapiError) {
				id, err := c.in.str("tag_id")
				if err != nil {
					return nil, err
				}
				return vcTaggingChange(c, "InventoryService.Tagging.DeleteTag",
					func() (interface{}, *vapiError) { return nil, vcTagDelete(id) },
					func() map[string]interface{} { return map[string]interface{}{"op": "tag_delete", "id": id} })
			}},
		vapiOp{service: tag, op: "list", rest: "GET /cis/tagging/tag",
			run: func(c *vapiCall) (interface{}, *vapiError) {
				return vcTaggingRead(func() (interface{}, *vapiError) {
					ids := make([]string, 0, len(vcTagging.tags))
					for id := range vcTagging.tags {
						ids = append(ids, id)
					}
					return vcTagIDs(ids), nil
				})
			}},
		vapiOp{service: tag, op: "list_used_tags", rest: "POST /cis/tagging/tag?action=list-used-tags",
			fields: []string{"used_by_entity"}, run: listUsed(false)},
		vapiOp{service: tag, op: "list_tags_for_category", rest: "POST /cis/tagging/tag?action=list-tags-for-category",
			fields: []string{"category_id"},
			run: func(c *vapiCall) (interface{}, *vapiError) {
				id, err := c.in.str("category_id")
				if err != nil {
					return nil, err
				}
				return vcTaggingRead(func() (interface{}, *vapiError) {
					if vcTagging.categories[id] == nil {
						return nil, vcTagNotFound("Category", id)
					}
					ids := []string{}
					for tid, t := range vcTagging.tags {
						if t.CategoryID == id {
							ids = append(ids, tid)
						}
					}
					return vcTagIDs(ids), nil
				})
			}},
		vapiOp{service: tag, op: "add_to_used_by", rest: "POST /cis/tagging/tag/{tag_id}?action=add-to-used-by",
			fields: []string{"tag_id", "used_by_entity"},
			run:    usedBy(tag, "Tag", "tag_id", "InventoryService.Tagging.ModifyUsedByForTag", true)},
		vapiOp{service: tag, op: "remove_from_used_by", rest: "POST /cis/tagging/tag/{tag_id}?action=remove-from-used-by",
			fields: []string{"tag_id", "used_by_entity"},
			run:    usedBy(tag, "Tag", "tag_id", "InventoryService.Tagging.ModifyUsedByForTag", false)},
		vapiOp{service: tag, op: "revoke_propagating_permissions", rest: "POST /cis/tagging/tag/{tag_id}?action=revoke-propagating-permissions",
			fields: []string{"tag_id"}, run: revoke("Tag", "tag_id")},
	)
	registerJournal("tagging", replayTagging)
}

func vcHandleCategoryCreate(c *vapiCall) (interface{}, *vapiError) {
	spec, err := c.in.sub("create_spec", "name", "description", "cardinality", "associable_types", "category_id")
	if err != nil {
		return nil, err
	}
	cat := &vcTagCategory{UsedBy: []string{}}
	if cat.Name, err = spec.str("name"); err != nil {
		return nil, err
	}
	if cat.Description, err = spec.str("description"); err != nil {
		return nil, err
	}
	if cat.Cardinality, err = spec.str("cardinality"); err != nil {
		return nil, err
	}
	if cat.Types, err = spec.strList("associable_types"); err != nil {
		return nil, err
	}
	given, _, err := spec.optStr("category_id")
	if err != nil {
		return nil, err
	}
	if cat.ID, err = vcNewTagID("InventoryServiceCategory", given); err != nil {
		return nil, err
	}
	return vcTaggingChange(c, "InventoryService.Tagging.CreateCategory",
		func() (interface{}, *vapiError) { return cat.ID, vcCategoryCreate(cat) },
		func() map[string]interface{} { return map[string]interface{}{"op": "category_create", "category": cat} })
}

func vcHandleCategoryUpdate(c *vapiCall) (interface{}, *vapiError) {
	id, err := c.in.str("category_id")
	if err != nil {
		return nil, err
	}
	spec, err := c.in.sub("update_spec", "name", "description", "cardinality", "associable_types")
	if err != nil {
		return nil, err
	}
	var name, description, cardinality *string
	for field, dst := range map[string]**string{"name": &name, "description": &description, "cardinality": &cardinality} {
		v, set, err := spec.optStr(field)
		if err != nil {
			return nil, err
		}
		if set {
			value := v
			*dst = &value
		}
	}
	types, typesSet, err := spec.optStrList("associable_types")
	if err != nil {
		return nil, err
	}
	return vcTaggingChange(c, "InventoryService.Tagging.EditCategory",
		func() (interface{}, *vapiError) {
			return nil, vcCategoryUpdate(id, name, description, cardinality, types, typesSet)
		},
		func() map[string]interface{} {
			return map[string]interface{}{"op": "category_update", "category": vcTagging.categories[id]}
		})
}

func vcHandleTagCreate(c *vapiCall) (interface{}, *vapiError) {
	spec, err := c.in.sub("create_spec", "name", "description", "category_id", "tag_id")
	if err != nil {
		return nil, err
	}
	t := &vcTag{UsedBy: []string{}}
	if t.Name, err = spec.str("name"); err != nil {
		return nil, err
	}
	if t.Description, err = spec.str("description"); err != nil {
		return nil, err
	}
	if t.CategoryID, err = spec.str("category_id"); err != nil {
		return nil, err
	}
	given, _, err := spec.optStr("tag_id")
	if err != nil {
		return nil, err
	}
	if t.ID, err = vcNewTagID("InventoryServiceTag", given); err != nil {
		return nil, err
	}
	return vcTaggingChange(c, "InventoryService.Tagging.CreateTag",
		func() (interface{}, *vapiError) { return t.ID, vcTagCreate(t) },
		func() map[string]interface{} { return map[string]interface{}{"op": "tag_create", "tag": t} })
}

func vcHandleTagUpdate(c *vapiCall) (interface{}, *vapiError) {
	id, err := c.in.str("tag_id")
	if err != nil {
		return nil, err
	}
	spec, err := c.in.sub("update_spec", "name", "description")
	if err != nil {
		return nil, err
	}
	var name, description *string
	if v, set, err := spec.optStr("name"); err != nil {
		return nil, err
	} else if set {
		name = &v
	}
	if v, set, err := spec.optStr("description"); err != nil {
		return nil, err
	} else if set {
		description = &v
	}
	return vcTaggingChange(c, "InventoryService.Tagging.EditTag",
		func() (interface{}, *vapiError) { return nil, vcTagUpdate(id, name, description) },
		func() map[string]interface{} {
			return map[string]interface{}{"op": "tag_update", "tag": vcTagging.tags[id]}
		})
}

// replayTagging re-applies one journaled tagging change.
func replayTagging(l *Lab, e *journalEntry) error {
	var r struct {
		Op       string         `json:"op"`
		ID       string         `json:"id"`
		Entity   string         `json:"entity"`
		Add      bool           `json:"add"`
		Category *vcTagCategory `json:"category"`
		Tag      *vcTag         `json:"tag"`
	}
	if err := e.decode(&r); err != nil {
		return err
	}
	vcTagging.Lock()
	defer vcTagging.Unlock()
	var verr *vapiError
	switch {
	case r.Op == "category_create" && r.Category != nil:
		verr = vcCategoryCreate(r.Category)
	case r.Op == "category_update" && r.Category != nil:
		c := r.Category
		verr = vcCategoryUpdate(c.ID, &c.Name, &c.Description, &c.Cardinality, c.Types, true)
	case r.Op == "category_delete":
		verr = vcCategoryDelete(r.ID)
	case r.Op == "tag_create" && r.Tag != nil:
		verr = vcTagCreate(r.Tag)
	case r.Op == "tag_update" && r.Tag != nil:
		verr = vcTagUpdate(r.Tag.ID, &r.Tag.Name, &r.Tag.Description)
	case r.Op == "tag_delete":
		verr = vcTagDelete(r.ID)
	case r.Op == "used_by":
		verr = vcUsedBy(r.ID, r.Entity, r.Add)
	default:
		return fmt.Errorf("unknown tagging change %q", r.Op)
	}
	if verr != nil {
		return fmt.Errorf("%s: %s", r.Op, verr.msg)
	}
	return nil
}
