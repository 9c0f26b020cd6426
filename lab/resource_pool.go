package main

// Resource pools and compute resources as a migration resolves them: a pool (or vApp) and the
// cluster or standalone host that owns it, and whether that cluster runs DRS (vCenter then picks a
// host for a migration that names only a pool). A journaled placement names its pool by path
// ("cl-a/Resources/child"): the compute resource's name, then the pool names down from its root
// pool, the same at every start of the same topology while morefs of pools made later may not be.

import (
	"fmt"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vcPoolMO returns the registry object and the ResourcePool view of a pool or vApp reference.
func vcPoolMO(ref types.ManagedObjectReference) (mo.Reference, *mo.ResourcePool) {
	switch x := simulator.Map.Get(ref).(type) {
	case *simulator.ResourcePool:
		return x, &x.ResourcePool
	case *simulator.VirtualApp:
		return x, &x.ResourcePool
	case *mo.ResourcePool:
		return x, x
	}
	return nil, nil
}

// vcComputeResource returns the ComputeResource view of a cluster or standalone compute resource.
func vcComputeResource(ref types.ManagedObjectReference) *mo.ComputeResource {
	switch x := simulator.Map.Get(ref).(type) {
	case *simulator.ClusterComputeResource:
		return &x.ComputeResource
	case *mo.ClusterComputeResource:
		return &x.ComputeResource
	case *mo.ComputeResource:
		return x
	}
	return nil
}

func vcDRSEnabled(ref types.ManagedObjectReference) bool {
	var cfg types.BaseComputeResourceConfigInfo
	switch x := simulator.Map.Get(ref).(type) {
	case *simulator.ClusterComputeResource:
		cfg = x.ConfigurationEx
	case *mo.ClusterComputeResource:
		cfg = x.ConfigurationEx
	}
	if c, ok := cfg.(*types.ClusterConfigInfoEx); ok {
		return c.DrsConfig.Enabled != nil && *c.DrsConfig.Enabled
	}
	return false
}

func vcHostCR(h *simulator.HostSystem) types.ManagedObjectReference {
	if h.Parent == nil {
		return types.ManagedObjectReference{}
	}
	return *h.Parent
}

// vcPoolPath names a pool by path: "cl-a/Resources/child".
func vcPoolPath(ref types.ManagedObjectReference) string {
	var names []string
	cur := ref
	for i := 0; i < 64; i++ {
		_, pool := vcPoolMO(cur)
		if pool == nil {
			break
		}
		names = append([]string{pool.Name}, names...)
		if pool.Parent == nil || (pool.Parent.Type != "ResourcePool" && pool.Parent.Type != "VirtualApp") {
			names = append([]string{vcName(pool.Owner)}, names...)
			break
		}
		cur = *pool.Parent
	}
	return strings.Join(names, "/")
}

// vcPoolByPath finds the pool a path names.
func vcPoolByPath(path string) (types.ManagedObjectReference, error) {
	parts := strings.Split(path, "/")
	var none types.ManagedObjectReference
	if len(parts) < 2 {
		return none, fmt.Errorf("bad pool path %q", path)
	}
	var root *types.ManagedObjectReference
	for _, kind := range []string{"ClusterComputeResource", "ComputeResource"} {
		for _, e := range simulator.Map.All(kind) {
			if e.Entity().Name != parts[0] {
				continue
			}
			if cr := vcComputeResource(e.Reference()); cr != nil && cr.ResourcePool != nil {
				root = cr.ResourcePool
			}
		}
	}
	if root == nil {
		return none, fmt.Errorf("unknown compute resource %q", parts[0])
	}
	cur := *root
	if _, pool := vcPoolMO(cur); pool == nil || pool.Name != parts[1] {
		return none, fmt.Errorf("unknown pool %q", path)
	}
	for _, name := range parts[2:] {
		_, pool := vcPoolMO(cur)
		found := false
		for _, child := range pool.ResourcePool {
			if _, c := vcPoolMO(child); c != nil && c.Name == name {
				cur, found = child, true
				break
			}
		}
		if !found {
			return none, fmt.Errorf("unknown pool %q", path)
		}
	}
	return cur, nil
}
