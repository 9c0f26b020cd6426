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
//     (The per-filter computation: property_filter.go.)
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
	"strconv"
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
		vcTrackCollector(ctx, pc) // an ended session's collector stops (session_manager.go)
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
