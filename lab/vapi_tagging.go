package main

// Tag categories and tags (com.vmware.cis.tagging.category, .tag): the Automation API's operations
// on the tagging store (tagging_store.go). Changes need the InventoryService.Tagging.* privileges
// (the read-only user is unauthorized) and are journaled; reads need a session. Associations are
// vapi_tag_association.go.

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
	usedBy := func(idField, privilege string, add bool) func(c *vapiCall) (interface{}, *vapiError) {
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
			run:    usedBy("category_id", "InventoryService.Tagging.ModifyUsedByForCategory", true)},
		vapiOp{service: cat, op: "remove_from_used_by", rest: "POST /cis/tagging/category/{category_id}?action=remove-from-used-by",
			fields: []string{"category_id", "used_by_entity"},
			run:    usedBy("category_id", "InventoryService.Tagging.ModifyUsedByForCategory", false)},
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
			run:    usedBy("tag_id", "InventoryService.Tagging.ModifyUsedByForTag", true)},
		vapiOp{service: tag, op: "remove_from_used_by", rest: "POST /cis/tagging/tag/{tag_id}?action=remove-from-used-by",
			fields: []string{"tag_id", "used_by_entity"},
			run:    usedBy("tag_id", "InventoryService.Tagging.ModifyUsedByForTag", false)},
		vapiOp{service: tag, op: "revoke_propagating_permissions", rest: "POST /cis/tagging/tag/{tag_id}?action=revoke-propagating-permissions",
			fields: []string{"tag_id"}, run: revoke("Tag", "tag_id")},
	)
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
