package main

// One property filter's part of an incremental WaitForUpdatesEx (property_collector_updates.go): the
// queued changes turned into the filter's ObjectUpdates, as vCenter reports them. A change at or
// below a watched path is reported as that path (with its current value when below); a change above
// watched paths as each watched path below it; several changes to one object merged into one
// ObjectUpdate. The filter's object set is collected again only when a batch can change it (an
// object of a watched type entered, a property the filter's TraversalSpecs traverse changed, a
// traversed object left): its diff gives `enter` and `leave`.

import (
	"reflect"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// vcObjUpdate builds one object's modify: its changes by name, and the watched paths whose current
// value is to be read.
type vcObjUpdate struct {
	idx   int // in the PropertyFilterUpdate's ObjectSet
	names map[string]int
	reads []string
}

// filterUpdate computes one filter's PropertyFilterUpdate for a batch of queued changes (overflow:
// the queue was dropped, every reported object is read again).
func (pc *vcPropertyCollector) filterUpdate(ctx *simulator.Context, ref moRef, filter *simulator.PropertyFilter,
	batch []vcQueued, overflow bool, tc vcTypeCache) (types.PropertyFilterUpdate, *soap.Fault) {
	w := &pc.watch
	fu := types.PropertyFilterUpdate{Filter: ref}
	spec := &filter.Spec
	rep, known := w.reported[ref]
	traversals := vcTraversals(spec)

	needCollect := !known || overflow
	for i := 0; i < len(batch) && !needCollect; i++ {
		q := &batch[i]
		switch q.u.Kind {
		case types.ObjectUpdateKindEnter:
			needCollect = vcWatchesType(spec, q.u.Obj, tc.of(q.obj))
		case types.ObjectUpdateKindModify:
			for _, ts := range traversals {
				if !vcTypeMatches(ts.Type, q.u.Obj, tc.of(q.obj)) {
					continue
				}
				for _, c := range q.u.ChangeSet {
					if vcExtends(c.Name, ts.Path) || vcExtends(ts.Path, c.Name) {
						needCollect = true
					}
				}
			}
		case types.ObjectUpdateKindLeave:
			if _, ok := rep[q.u.Obj]; !ok {
				for _, o := range spec.ObjectSet {
					if o.Obj == q.u.Obj {
						needCollect = true // the filter's root is gone: the collect faults, as the simulator's does
					}
				}
				for _, ts := range traversals {
					if ts.Type == q.u.Obj.Type {
						needCollect = true
					}
				}
			}
		}
	}

	var present []types.ObjectContent
	if needCollect {
		var fault *soap.Fault
		if present, fault = pc.collectSpec(ctx, spec); fault != nil {
			return fu, fault
		}
	}
	if !known {
		rep = make(map[moRef]struct{}, len(present))
		w.reported[ref] = rep
		for _, o := range present {
			rep[o.Obj] = struct{}{}
			fu.ObjectSet = append(fu.ObjectSet, vcWholeUpdate(o, types.ObjectUpdateKindEnter))
		}
		return fu, nil // the current state covers the batch
	}

	// modify and leave, in queue order
	objs := map[moRef]*vcObjUpdate{}
	left := map[moRef]bool{}
	for i := range batch {
		q := &batch[i]
		if _, ok := rep[q.u.Obj]; !ok {
			continue
		}
		switch q.u.Kind {
		case types.ObjectUpdateKindLeave:
			delete(rep, q.u.Obj)
			left[q.u.Obj] = true
			fu.ObjectSet = append(fu.ObjectSet, types.ObjectUpdate{Obj: q.u.Obj, Kind: types.ObjectUpdateKindLeave})
		case types.ObjectUpdateKindModify:
			if overflow {
				continue // the full modify below
			}
			pc.matchChanges(spec, &fu, objs, q, tc)
		}
	}

	// the object set's diff
	if present != nil || needCollect {
		seen := make(map[moRef]bool, len(present))
		for _, o := range present {
			seen[o.Obj] = true
			if _, ok := rep[o.Obj]; !ok {
				if left[o.Obj] {
					continue // removed while we collected
				}
				rep[o.Obj] = struct{}{}
				fu.ObjectSet = append(fu.ObjectSet, vcWholeUpdate(o, types.ObjectUpdateKindEnter))
			} else if overflow {
				fu.ObjectSet = append(fu.ObjectSet, vcWholeUpdate(o, types.ObjectUpdateKindModify))
			}
		}
		for obj := range rep {
			if !seen[obj] {
				delete(rep, obj)
				fu.ObjectSet = append(fu.ObjectSet, types.ObjectUpdate{Obj: obj, Kind: types.ObjectUpdateKindLeave})
			}
		}
	}

	// current values of the watched paths changed above or below them, one small collect per object
	for obj, ou := range objs {
		if len(ou.reads) == 0 {
			continue
		}
		vals := pc.readPaths(ctx, obj, ou.reads)
		cs := fu.ObjectSet[ou.idx].ChangeSet
		for _, p := range ou.reads {
			cs[ou.names[p]] = types.PropertyChange{Name: p, Op: types.PropertyChangeOpAssign, Val: vals[p]}
		}
	}
	return fu, nil
}

// matchChanges adds the changes of one queued modify that touch a watched path to the object's
// ObjectUpdate in fu (made on its first change), as vCenter reports them.
func (pc *vcPropertyCollector) matchChanges(spec *types.PropertyFilterSpec, fu *types.PropertyFilterUpdate,
	objs map[moRef]*vcObjUpdate, q *vcQueued, tc vcTypeCache) {
	var ou *vcObjUpdate
	get := func() *vcObjUpdate {
		if ou == nil {
			if ou = objs[q.u.Obj]; ou == nil {
				ou = &vcObjUpdate{idx: len(fu.ObjectSet), names: map[string]int{}}
				objs[q.u.Obj] = ou
				fu.ObjectSet = append(fu.ObjectSet, types.ObjectUpdate{Obj: q.u.Obj, Kind: types.ObjectUpdateKindModify})
			}
		}
		return ou
	}
	set := func(c types.PropertyChange, read bool) {
		ou := get()
		cs := &fu.ObjectSet[ou.idx].ChangeSet
		if i, ok := ou.names[c.Name]; ok {
			if read {
				for _, p := range ou.reads {
					if p == c.Name {
						return // already to be read
					}
				}
				ou.reads = append(ou.reads, c.Name) // the current value supersedes the queued one
				return
			}
			if c.Op == types.PropertyChangeOpAssign && (*cs)[i].Op == types.PropertyChangeOpAssign {
				for j, p := range ou.reads {
					if p == c.Name {
						ou.reads = append(ou.reads[:j:j], ou.reads[j+1:]...)
						break
					}
				}
				(*cs)[i] = c // the later value wins
				return
			}
		}
		if read {
			c = types.PropertyChange{Name: c.Name, Op: types.PropertyChangeOpAssign}
			ou.reads = append(ou.reads, c.Name)
		}
		ou.names[c.Name] = len(*cs)
		*cs = append(*cs, c)
	}
	moType := tc.of(q.obj)
	for _, p := range spec.PropSet {
		if !vcTypeMatches(p.Type, q.u.Obj, moType) {
			continue
		}
		for _, c := range q.u.ChangeSet {
			if isTrueP(p.All) {
				// every property is watched: report it at the top-level property
				top := c.Name
				if i := strings.IndexAny(top, ".["); i >= 0 {
					set(types.PropertyChange{Name: top[:i]}, true)
				} else {
					set(c, false)
				}
				continue
			}
			for _, name := range p.PathSet {
				switch {
				case c.Name == name:
					set(c, false)
				case vcExtends(c.Name, name): // deeper: the watched path's current value
					set(types.PropertyChange{Name: name}, true)
				case vcExtends(name, c.Name): // shallower: each watched path below it
					set(types.PropertyChange{Name: name}, true)
				}
			}
		}
	}
}

// readPaths reads the current values of some properties of one object: the read the full collect
// does, for one object (nil for an unset property or a gone object).
func (pc *vcPropertyCollector) readPaths(ctx *simulator.Context, obj moRef, paths []string) map[string]types.AnyType {
	vals := make(map[string]types.AnyType, len(paths))
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, &types.RetrievePropertiesEx{SpecSet: []types.PropertyFilterSpec{{
		PropSet:                       []types.PropertySpec{{Type: obj.Type, PathSet: paths}},
		ObjectSet:                     []types.ObjectSpec{{Obj: obj}},
		ReportMissingObjectsInResults: types.NewBool(true),
	}}})
	if b, ok := res.(*methods.RetrievePropertiesExBody); ok && b.Res != nil && b.Res.Returnval != nil {
		for _, o := range b.Res.Returnval.Objects {
			for _, p := range o.PropSet {
				vals[p.Name] = p.Val
			}
		}
	}
	return vals
}

// collectSpec is the filter's full collect: the embedded RetrievePropertiesEx on its spec. (The
// simulator never pages its results, so there is no token to follow; the lab's own paged
// RetrievePropertiesEx, property_collector.go, is for clients.)
func (pc *vcPropertyCollector) collectSpec(ctx *simulator.Context, spec *types.PropertyFilterSpec) ([]types.ObjectContent, *soap.Fault) {
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, &types.RetrievePropertiesEx{SpecSet: []types.PropertyFilterSpec{*spec}})
	if f := res.Fault(); f != nil {
		return nil, f
	}
	b := res.(*methods.RetrievePropertiesExBody)
	if b.Res == nil || b.Res.Returnval == nil {
		return []types.ObjectContent{}, nil
	}
	return b.Res.Returnval.Objects, nil
}

func vcWholeUpdate(o types.ObjectContent, kind types.ObjectUpdateKind) types.ObjectUpdate {
	ou := types.ObjectUpdate{Obj: o.Obj, Kind: kind}
	for _, p := range o.PropSet {
		ou.ChangeSet = append(ou.ChangeSet, types.PropertyChange{Op: types.PropertyChangeOpAssign, Name: p.Name, Val: p.Val})
	}
	return ou
}

// -- spec helpers -------------------------------------------------------------------------------

// vcExtends: path name is p or below it ("summary.accessible", "device[2000]" below "device").
func vcExtends(name, p string) bool {
	return len(name) > len(p) && strings.HasPrefix(name, p) && (name[len(p)] == '.' || name[len(p)] == '[')
}

func isTrueP(b *bool) bool { return b != nil && *b }

// vcTraversals: every TraversalSpec of the filter's object specs (nested ones too).
func vcTraversals(spec *types.PropertyFilterSpec) []*types.TraversalSpec {
	var out []*types.TraversalSpec
	seen := map[*types.TraversalSpec]bool{}
	var walk func([]types.BaseSelectionSpec)
	walk = func(ss []types.BaseSelectionSpec) {
		for _, s := range ss {
			if ts, ok := s.(*types.TraversalSpec); ok && !seen[ts] {
				seen[ts] = true
				out = append(out, ts)
				walk(ts.SelectSet)
			}
		}
	}
	for _, o := range spec.ObjectSet {
		walk(o.SelectSet)
	}
	return out
}

// vcWatchesType: whether some PropertySpec of the filter applies to the object.
func vcWatchesType(spec *types.PropertyFilterSpec, ref moRef, moType reflect.Type) bool {
	for _, p := range spec.PropSet {
		if vcTypeMatches(p.Type, ref, moType) {
			return true
		}
	}
	return false
}

// vcTypeMatches: a PropertySpec/TraversalSpec type applies to the object: its own type, or one it
// embeds ("ManagedEntity" for a HostSystem, "ComputeResource" for a cluster), as the simulator's
// collect and PropertyFilter.matches decide.
func vcTypeMatches(kind string, ref moRef, moType reflect.Type) bool {
	if kind == ref.Type {
		return true
	}
	if moType == nil {
		return false
	}
	if kind == moType.Name() {
		return true
	}
	f, ok := moType.FieldByName(kind)
	return ok && f.Anonymous
}

// vcTypeCache: the vim25/mo struct type of the objects of a batch, by their Go type.
type vcTypeCache map[reflect.Type]reflect.Type

// of digs out the mo type as the simulator's getManagedObject does (wrapper types embed it as
// field 0); nil when there is none.
func (c vcTypeCache) of(o mo.Reference) reflect.Type {
	if o == nil {
		return nil
	}
	t := reflect.TypeOf(o)
	if mt, ok := c[t]; ok {
		return mt
	}
	var mt reflect.Type
	rt := t
	if rt.Kind() == reflect.Ptr {
		rt = rt.Elem()
	}
	for rt.Kind() == reflect.Struct {
		if pkg := rt.PkgPath(); pkg == "mo" || strings.HasSuffix(pkg, "/mo") {
			mt = rt
			break
		}
		if rt.NumField() == 0 {
			break
		}
		rt = rt.Field(0).Type
	}
	c[t] = mt
	return mt
}
