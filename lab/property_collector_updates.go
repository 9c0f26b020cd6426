package main

// Incremental WaitForUpdatesEx, as vCenter computes it.
//
// The 0.24.2 simulator recomputes a full RetrievePropertiesEx of every filter's spec (apply) once
// for EVERY queued ObjectUpdate, Enter and Modify alike: with a client watching 2,000 hosts and
// 20,000 VMs through ContainerViews, one path fault cost ~1.4 s and an array target port fault
// (thousands of updates) minutes. vCenter instead keeps, per filter, the set of objects it has
// reported and turns each property change into an update of exactly the watched properties of
// that object; it re-evaluates the filter's object set only when the set can have changed. So do
// we, on our vcPropertyCollector (the ServiceInstance's collector, every session's copy of it, and
// every collector CreatePropertyCollector makes):
//
//   - version "": the current state of every filter (one collect per filter, the embedded
//     RetrievePropertiesEx on the filter's spec), every object as `enter`; version "1".
//   - later versions: the changes queued by our Map handlers (PutObject/UpdateObject/
//     RemoveObject) since the last call, in batches: a `modify` of a reported object keeps the
//     changes at a watched path; a change below a watched path (`summary.accessible` when
//     `summary` is watched) is reported as the watched path with its current value, a change above
//     one (`config` when `config.extraConfig` is watched) as each watched path below it with its
//     current value (vCenter with partialUpdates=false; allowed with true); several changes to
//     one object in a batch are merged into one ObjectUpdate, the latest value winning.
//   - one full collect per filter and batch, only when the batch can change the filter's object
//     set: an object of a watched type entered, a traversed property (ContainerView.view,
//     Folder.childEntity, ... by the filter's TraversalSpecs) changed, or a traversed object left.
//     Its diff gives `enter` (with every watched property) and `leave`; a removed object is `leave`.
//   - a filter created after the first wait gets its objects as `enter` on the next call (vCenter).
//   - WaitOptions.maxWaitSeconds (absent: wait until something changes; 0: one check, no wait),
//     maxObjectUpdates (an UpdateSet of at most that many ObjectUpdates, truncated=true, the rest
//     comes with the next call at once), CancelWaitForUpdates -> RequestCanceled.
//
// Locking: the Map calls our handlers with the changed object's lock held, so they only append to
// the queue under w.mu and never block. The computation runs under w.wmu (one per collector, so
// concurrent waits on one collector don't interleave) and takes object locks only through
// RetrievePropertiesEx, never while holding w.mu.

import (
	"context"
	"log"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type moRef = types.ManagedObjectReference

// vcWatchTick: how often a waiting WaitForUpdatesEx looks at the queue; changes published
// together (one fault touches many objects) accumulate meanwhile.
const vcWatchTick = 50 * time.Millisecond

// vcWatchQueueMax bounds the queue of a collector nobody waits on any more (a client that
// vanished without DestroyPropertyCollector): beyond it the queue is dropped and the next wait
// resyncs every filter from a full collect (every reported object's watched properties as modify).
const vcWatchQueueMax = 1 << 20

type vcQueued struct {
	u   types.ObjectUpdate
	obj mo.Reference // enter/modify: the object the Map handed us (for its type); nil for leave
}

// vcWatch is a collector's WaitForUpdatesEx state (a field of vcPropertyCollector).
type vcWatch struct {
	mu       sync.Mutex // guards queue, overflow, cancel, handler (taken by the Map handlers)
	queue    []vcQueued
	overflow bool
	cancel   context.CancelFunc
	handler  bool

	wmu      sync.Mutex                   // one computation at a time; guards the fields below
	reported map[moRef]map[moRef]struct{} // per filter: the objects reported (entered, not left)
	pending  []types.PropertyFilterUpdate // computed, not returned yet (maxObjectUpdates)
	version  int64
}

func (w *vcWatch) push(q vcQueued) {
	w.mu.Lock()
	if len(w.queue) >= vcWatchQueueMax {
		w.queue, w.overflow = nil, true
	}
	if !w.overflow {
		w.queue = append(w.queue, q)
	}
	w.mu.Unlock()
}

// -- the Map's handler interface (simulator.RegisterObject) -----------------------------------

func (pc *vcPropertyCollector) PutObject(o mo.Reference) {
	pc.watch.push(vcQueued{u: types.ObjectUpdate{Obj: o.Reference(), Kind: types.ObjectUpdateKindEnter}, obj: o})
}

func (pc *vcPropertyCollector) UpdateObject(o mo.Reference, changes []types.PropertyChange) {
	pc.watch.push(vcQueued{u: types.ObjectUpdate{Obj: o.Reference(), Kind: types.ObjectUpdateKindModify, ChangeSet: changes}, obj: o})
}

func (pc *vcPropertyCollector) RemoveObject(ref types.ManagedObjectReference) {
	pc.watch.push(vcQueued{u: types.ObjectUpdate{Obj: ref, Kind: types.ObjectUpdateKindLeave}})
}

// -- collector lifecycle ------------------------------------------------------------------------

// CreatePropertyCollector makes one of ours (the simulator's makes a plain PropertyCollector,
// which would bring back its per-update recompute).
func (pc *vcPropertyCollector) CreatePropertyCollector(ctx *simulator.Context, c *types.CreatePropertyCollector) soap.HasFault {
	cpc := &vcPropertyCollector{}
	cpc.Self.Type = "PropertyCollector" // else the session names it after our Go type
	return &methods.CreatePropertyCollectorBody{
		Res: &types.CreatePropertyCollectorResponse{Returnval: ctx.Session.Put(cpc).Reference()},
	}
}

// CancelWaitForUpdates ends a WaitForUpdatesEx in progress with RequestCanceled.
func (pc *vcPropertyCollector) CancelWaitForUpdates(r *types.CancelWaitForUpdates) soap.HasFault {
	pc.watch.mu.Lock()
	if pc.watch.cancel != nil {
		pc.watch.cancel()
	}
	pc.watch.mu.Unlock()
	return &methods.CancelWaitForUpdatesBody{Res: new(types.CancelWaitForUpdatesResponse)}
}

// DestroyPropertyCollector cancels our wait too (the embedded one cancels only the simulator's),
// then destroys the filters and unregisters the handler (Map.Remove) as the simulator does.
func (pc *vcPropertyCollector) DestroyPropertyCollector(ctx *simulator.Context, c *types.DestroyPropertyCollector) soap.HasFault {
	pc.CancelWaitForUpdates(&types.CancelWaitForUpdates{This: c.This})
	return pc.PropertyCollector.DestroyPropertyCollector(ctx, c)
}

// WaitForUpdates (deprecated, no options) is WaitForUpdatesEx without a wait bound.
func (pc *vcPropertyCollector) WaitForUpdates(ctx *simulator.Context, r *types.WaitForUpdates) soap.HasFault {
	body := &methods.WaitForUpdatesBody{}
	res := pc.WaitForUpdatesEx(ctx, &types.WaitForUpdatesEx{This: r.This, Version: r.Version})
	if res.Fault() != nil {
		body.Fault_ = res.Fault()
		return body
	}
	set := res.(*methods.WaitForUpdatesExBody).Res.Returnval
	if set == nil {
		set = &types.UpdateSet{Version: r.Version}
	}
	body.Res = &types.WaitForUpdatesResponse{Returnval: *set}
	return body
}

// -- WaitForUpdatesEx ---------------------------------------------------------------------------

func (pc *vcPropertyCollector) WaitForUpdatesEx(ctx *simulator.Context, r *types.WaitForUpdatesEx) soap.HasFault {
	w := &pc.watch
	body := &methods.WaitForUpdatesExBody{Res: &types.WaitForUpdatesExResponse{}}

	oneCheck, maxUpdates := false, 0
	wait, cancel := context.WithCancel(context.Background())
	if o := r.Options; o != nil {
		if m := o.MaxWaitSeconds; m != nil {
			oneCheck = *m <= 0 // 0: compute once and return what there is
			if *m > 0 {
				cancel()
				wait, cancel = context.WithTimeout(context.Background(), time.Duration(*m)*time.Second)
			}
		}
		if o.MaxObjectUpdates > 0 {
			maxUpdates = int(o.MaxObjectUpdates)
		}
	}
	defer cancel()

	w.mu.Lock()
	w.cancel = cancel
	register := !w.handler
	w.handler = true
	if r.Version == "" {
		w.queue, w.overflow = nil, false // the full state below supersedes them
	}
	w.mu.Unlock()
	if register {
		// Before the initial collect, so no change falls between it and the first batch (a change
		// it already saw comes again as a harmless modify).
		ctx.Map.AddHandler(pc)
		vcTrackCollector(ctx, pc) // an ended session's collector stops (vcenter_sessions.go)
	}
	if r.Version == "" {
		w.wmu.Lock()
		w.reported, w.pending = nil, nil // every filter reports its objects anew, as enter
		w.wmu.Unlock()
	}

	ticker := time.NewTicker(vcWatchTick)
	defer ticker.Stop()
	for {
		w.wmu.Lock()
		if len(w.pending) == 0 {
			if fault := pc.computeUpdates(ctx); fault != nil {
				w.wmu.Unlock()
				body.Res = nil
				body.Fault_ = fault
				return body
			}
		}
		if len(w.pending) != 0 || r.Version == "" {
			body.Res.Returnval = w.take(maxUpdates)
			w.wmu.Unlock()
			return body
		}
		w.wmu.Unlock()
		if oneCheck {
			return body // no updates: no UpdateSet
		}
		select {
		case <-wait.Done():
			if vcSessionEnded(ctx) {
				body.Res = nil
				body.Fault_ = vcNotAuthenticated(pc.Self)
				return body
			}
			if wait.Err() == context.Canceled {
				body.Res = nil
				body.Fault_ = simulator.Fault("", new(types.RequestCanceled)) // CancelWaitForUpdates
			}
			return body // maxWaitSeconds passed: no UpdateSet
		case <-ticker.C:
			if vcSessionEnded(ctx) {
				body.Res = nil
				body.Fault_ = vcNotAuthenticated(pc.Self)
				return body
			}
		}
	}
}

// endWait ends a WaitForUpdatesEx in progress (its session ended: it answers NotAuthenticated).
func (pc *vcPropertyCollector) endWait() {
	pc.watch.mu.Lock()
	if pc.watch.cancel != nil {
		pc.watch.cancel()
	}
	pc.watch.mu.Unlock()
}

// vcNotAuthenticated is vCenter's answer to a call of a session that ended.
func vcNotAuthenticated(obj types.ManagedObjectReference) *soap.Fault {
	return simulator.Fault("The session is not authenticated.",
		&types.NotAuthenticated{NoPermission: types.NoPermission{Object: obj, PrivilegeId: "System.View"}})
}

// take returns the next UpdateSet from w.pending: at most max ObjectUpdates (0: all), truncated
// when some remain. Called with w.wmu held.
func (w *vcWatch) take(max int) *types.UpdateSet {
	w.version++
	set := &types.UpdateSet{Version: strconv.FormatInt(w.version, 10)}
	n := 0
	for len(w.pending) != 0 {
		fu := w.pending[0]
		if max > 0 && n+len(fu.ObjectSet) > max {
			k := max - n
			if k > 0 {
				set.FilterSet = append(set.FilterSet, types.PropertyFilterUpdate{Filter: fu.Filter, ObjectSet: fu.ObjectSet[:k:k]})
				w.pending[0].ObjectSet = fu.ObjectSet[k:]
			}
			break
		}
		set.FilterSet = append(set.FilterSet, fu)
		n += len(fu.ObjectSet)
		w.pending = w.pending[1:]
	}
	if len(w.pending) == 0 {
		w.pending = nil
	}
	set.Truncated = types.NewBool(len(w.pending) != 0)
	return set
}

// computeUpdates turns the queued changes into PropertyFilterUpdates on w.pending. Called with
// w.wmu held (not w.mu).
func (pc *vcPropertyCollector) computeUpdates(ctx *simulator.Context) *soap.Fault {
	w := &pc.watch
	filters := append([]moRef(nil), pc.Filter...)
	if w.reported == nil {
		w.reported = make(map[moRef]map[moRef]struct{})
	}
	live := make(map[moRef]bool, len(filters))
	newFilter := false
	for _, f := range filters {
		live[f] = true
		if _, ok := w.reported[f]; !ok {
			newFilter = true
		}
	}
	for f := range w.reported {
		if !live[f] {
			delete(w.reported, f) // destroyed filter
		}
	}

	w.mu.Lock()
	batch, overflow := w.queue, w.overflow
	w.queue, w.overflow = nil, false
	w.mu.Unlock()
	if len(batch) == 0 && !overflow && !newFilter {
		return nil
	}

	start := time.Now()
	n := 0
	tc := make(vcTypeCache)
	defer func() {
		if d := time.Since(start); d > 100*time.Millisecond {
			log.Printf("%s: %d changes -> %d object updates in %v", pc.Self, len(batch), n, d.Round(time.Millisecond))
		}
	}()
	for _, ref := range filters {
		filter, ok := ctx.Session.Get(ref).(*simulator.PropertyFilter)
		if !ok {
			continue
		}
		fu, fault := pc.filterUpdate(ctx, ref, filter, batch, overflow, tc)
		if fault != nil {
			return fault
		}
		if len(fu.ObjectSet) != 0 {
			n += len(fu.ObjectSet)
			w.pending = append(w.pending, fu)
		}
	}
	return nil
}

// vcObjUpdate builds one object's modify: its changes by name, and the watched paths whose current
// value is to be read.
type vcObjUpdate struct {
	idx   int // in the PropertyFilterUpdate's ObjectSet
	names map[string]int
	reads []string
}

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
// RetrievePropertiesEx, vcenter_paging.go, is for clients.)
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
