package main

// Inventory lookups every managed object's file uses: a managed entity by reference, its ancestor
// of a type (the datacenter of a VM), its display name.

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vcEntity returns the registry object for ref as an mo.Entity, or nil.
func vcEntity(ref types.ManagedObjectReference) mo.Entity {
	e, _ := simulator.Map.Get(ref).(mo.Entity)
	return e
}

// vcAncestor walks up the inventory from ref and returns the first ancestor of the given type.
func vcAncestor(ref types.ManagedObjectReference, kind string) *types.ManagedObjectReference {
	for i := 0; i < 64; i++ {
		e := vcEntity(ref)
		if e == nil {
			return nil
		}
		parent := e.Entity().Parent
		if parent == nil {
			return nil
		}
		if parent.Type == kind {
			p := *parent
			return &p
		}
		ref = *parent
	}
	return nil
}

// vcName returns an entity's name ("" if unknown).
func vcName(ref types.ManagedObjectReference) string {
	if e := vcEntity(ref); e != nil {
		if n := e.Entity().Name; n != "" {
			return n
		}
	}
	switch x := simulator.Map.Get(ref).(type) {
	case *simulator.Datastore:
		return x.Name
	case *mo.Network:
		return x.Name
	}
	return ""
}
