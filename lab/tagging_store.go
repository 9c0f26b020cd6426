package main

// The tagging service's store: categories, tags and their associations (vapi_tag_association.go),
// with vCenter's rules (the SDK bindings' documentation is the reference):
//   - ids are urn:vmomi:InventoryServiceCategory:<uuid>:GLOBAL and
//     urn:vmomi:InventoryServiceTag:<uuid>:GLOBAL; a create may bring its own;
//   - a category name is unique (already_exists), a tag name unique within its category; a tag's
//     category must exist (not_found); cardinality SINGLE or MULTIPLE;
//   - category update: associable types "can only grow and not shrink" (an empty set means every
//     type and cannot be narrowed), cardinality may go from SINGLE to MULTIPLE only (the vSphere
//     Client's rule) -- anything else is invalid_argument;
//   - deleting a category deletes its tags, deleting a tag detaches it everywhere.
// vCenter keeps tags in its database: every change is journaled and replayed in order, ids kept:
//
//	{"t":"tagging","op":"category_create","category":{...}}   and category_update, category_delete,
//	tag_create, tag_update, tag_delete, used_by (the whole record each time, or the id)

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"
)

func init() {
	registerJournal("tagging", replayTagging)
}

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
