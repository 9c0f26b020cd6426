package main

// Event history as vCenter keeps it (its database): every event posted, and EventHistoryCollectors
// over it. The simulator kept the last 1000 events in a ring and returned them oldest-first or worse
// (its latestPage of a new collector could mix the newest with the oldest: `govc events -n 8 vm/web01`
// printed nothing). vCenter's behaviour (API reference HistoryCollector, EventHistoryCollector,
// EventManager.QueryEvents, EventFilterSpec):
//   - a collector's "scrollable view" is every event that matches its filter, in creation order,
//     growing as events are posted; latestPage holds the newest ones, at most the page size (10
//     unless the filter's maxCount says, SetCollectorPageSize changes it, 1..1000);
//   - the API leaves the order within latestPage open ("the events in the returned page are
//     unordered"); vCenter and govmomi's simulator give them newest first (clients sort by key);
//   - the view starts at the oldest event (RewindCollector goes back there): ReadNextEvents reads
//     toward the newest, oldest first; ResetCollector moves to just before the latest page:
//     ReadPreviousEvents reads toward the oldest, newest first, without the latest page; a read at
//     either end returns nothing;
//   - QueryEvents returns the newest maxCount (default 1000) matching events, newest first.
// Filters: entity (self, children, all), time, userName, eventTypeId (the concrete type, a base type,
// or an EventEx/ExtendedEvent's eventTypeId), category, eventChainId, alarm. The history keeps the
// newest 200,000 events; every event reaches it through vcEventTap (event_manager.go).

import (
	"reflect"
	"sort"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	vcHistoryMax    = 200000
	vcHistorySlack  = vcHistoryMax / 8 // events past the max before the oldest are dropped (in one copy)
	vcPageDefault   = 10
	vcPageMax       = 1000
	vcQueryDefault  = 1000
	vcCollectorsMax = 32 // per session, vCenter's default limit
)

type vcEventHistory struct {
	mu         sync.Mutex
	events     []types.BaseEvent // key order
	collectors map[*labEventCollector]bool
}

var vcHistory = &vcEventHistory{collectors: map[*labEventCollector]bool{}}

// add records a posted event and extends the collectors it matches. Called with the EventManager's
// lock held (PostEvent), so events arrive one at a time, in key order.
func (h *vcEventHistory) add(e types.BaseEvent) {
	h.mu.Lock()
	n := len(h.events)
	if n > 0 && h.events[n-1].GetEvent().Key > e.GetEvent().Key {
		i := sort.Search(n, func(i int) bool { return h.events[i].GetEvent().Key > e.GetEvent().Key })
		grown := make([]types.BaseEvent, 0, n+1) // a new slice: readers may hold the old one
		grown = append(append(append(grown, h.events[:i]...), e), h.events[i:]...)
		h.events = grown
	} else {
		h.events = append(h.events, e)
	}
	if len(h.events) > vcHistoryMax+vcHistorySlack {
		// one copy per vcHistorySlack events: a copy per event, once the history was full, copied 200,000
		// entries for each of a storm's few hundred events a second and slowed every call of the lab
		h.events = append([]types.BaseEvent(nil), h.events[len(h.events)-vcHistoryMax:]...)
	}
	var cs []*labEventCollector
	for c := range h.collectors {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		if vcEventMatches(&c.spec, e) {
			simulator.Map.WithLock(c, func() { c.append(e) })
		}
	}
}

func (h *vcEventHistory) byKey(key int32) types.BaseEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.Search(len(h.events), func(i int) bool { return h.events[i].GetEvent().Key >= key })
	if i < len(h.events) && h.events[i].GetEvent().Key == key {
		return h.events[i]
	}
	return nil
}

// matching returns the matching events in key order (at most the newest max, max <= 0: all). The
// history only grows at its end and is copied when trimmed, so a snapshot of the slice is stable.
func (h *vcEventHistory) matching(spec *types.EventFilterSpec, max int) []types.BaseEvent {
	h.mu.Lock()
	events := h.events
	h.mu.Unlock()
	var out []types.BaseEvent
	for i := len(events) - 1; i >= 0 && (max <= 0 || len(out) < max); i-- {
		if vcEventMatches(spec, events[i]) {
			out = append(out, events[i])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// --- filters ----------------------------------------------------------------------------------------

func vcEventMatches(spec *types.EventFilterSpec, e types.BaseEvent) bool {
	ev := e.GetEvent()
	if spec.EventChainId != 0 && ev.ChainId != spec.EventChainId {
		return false
	}
	if t := spec.Time; t != nil {
		if (t.BeginTime != nil && ev.CreatedTime.Before(*t.BeginTime)) || (t.EndTime != nil && ev.CreatedTime.After(*t.EndTime)) {
			return false
		}
	}
	if u := spec.UserName; u != nil {
		if !contains(u.UserList, ev.UserName) && !(u.SystemUser && ev.UserName == "") {
			return false
		}
	}
	if ids := append(append([]string(nil), spec.EventTypeId...), spec.Type...); len(ids) > 0 && !vcEventTypeMatches(e, ids) {
		return false
	}
	if len(spec.Category) > 0 && !contains(spec.Category, vcEventCategory(e)) {
		return false
	}
	if spec.Alarm != nil {
		a, ok := e.(types.BaseAlarmEvent)
		if !ok || a.GetAlarmEvent().Alarm.Alarm != *spec.Alarm {
			return false
		}
	}
	return spec.Entity == nil || vcEventEntityMatches(spec.Entity, e)
}

func vcEventTypeMatches(e types.BaseEvent, ids []string) bool {
	switch x := e.(type) {
	case *types.EventEx:
		if contains(ids, x.EventTypeId) {
			return true
		}
	case *types.ExtendedEvent:
		if contains(ids, x.EventTypeId) {
			return true
		}
	}
	t := reflect.TypeOf(e).Elem()
	if contains(ids, t.Name()) {
		return true
	}
	for { // the base types: each event struct embeds its parent type first
		if t.Kind() != reflect.Struct || t.NumField() == 0 || !t.Field(0).Anonymous {
			return false
		}
		t = t.Field(0).Type
		if contains(ids, t.Name()) {
			return true
		}
	}
}

// vcEventCategory: info, warning, error or user, as EventManager.description.eventInfo gives it.
func vcEventCategory(e types.BaseEvent) string {
	switch x := e.(type) {
	case *types.EventEx:
		if x.Severity != "" {
			return x.Severity
		}
		return "info"
	case *types.ExtendedEvent:
		return "info"
	}
	if c, ok := vcEventCategories()[reflect.TypeOf(e).Elem().Name()]; ok {
		return c
	}
	return "info"
}

var (
	vcCategoriesOnce sync.Once
	vcCategories     map[string]string
)

func vcEventCategories() map[string]string {
	vcCategoriesOnce.Do(func() {
		vcCategories = map[string]string{"GeneralUserEvent": "user"}
		em := simulator.Map.EventManager()
		simulator.Map.WithLock(em, func() {
			for _, info := range em.Description.EventInfo {
				if info.Category != "" {
					vcCategories[info.Key] = info.Category
				}
			}
		})
	})
	return vcCategories
}

func vcEventEntityMatches(by *types.EventFilterSpecByEntity, e types.BaseEvent) bool {
	if by.Entity == vcRootFolder() && by.Recursion != types.EventFilterSpecRecursionOptionChildren {
		return true
	}
	self := by.Recursion == types.EventFilterSpecRecursionOptionSelf || by.Recursion == types.EventFilterSpecRecursionOptionAll
	below := by.Recursion == types.EventFilterSpecRecursionOptionChildren || by.Recursion == types.EventFilterSpecRecursionOptionAll
	for _, ref := range vcEventEntities(e) {
		if self && ref == by.Entity {
			return true
		}
		if below && ref != by.Entity && vcDescends(ref, by.Entity) {
			return true
		}
	}
	return false
}

// vcEventEntities: the entities an event is about (its arguments, an EventEx's object).
func vcEventEntities(e types.BaseEvent) []types.ManagedObjectReference {
	ev := e.GetEvent()
	var out []types.ManagedObjectReference
	if ev.Vm != nil {
		out = append(out, ev.Vm.Vm)
	}
	if ev.Host != nil {
		out = append(out, ev.Host.Host)
	}
	if ev.ComputeResource != nil {
		out = append(out, ev.ComputeResource.ComputeResource)
	}
	if ev.Ds != nil {
		out = append(out, ev.Ds.Datastore)
	}
	if ev.Net != nil {
		out = append(out, ev.Net.Network)
	}
	if ev.Dvs != nil {
		out = append(out, ev.Dvs.Dvs)
	}
	if ev.Datacenter != nil {
		out = append(out, ev.Datacenter.Datacenter)
	}
	if x, ok := e.(*types.EventEx); ok && x.ObjectId != "" {
		out = append(out, types.ManagedObjectReference{Type: x.ObjectType, Value: x.ObjectId})
	}
	if x, ok := e.(*types.GeneralUserEvent); ok && x.Entity != nil {
		out = append(out, x.Entity.Entity)
	}
	return out
}

// --- the collector ------------------------------------------------------------------------------------

type labEventCollector struct {
	mo.EventHistoryCollector // must stay the first field: the simulator digs the mo type out of it

	spec    types.EventFilterSpec
	session string
	size    int
	view    []types.BaseEvent // every matching event, key order
	pos     int               // the scroll position: ReadNextEvents returns view[pos:]
}

// append adds a new event to the view and publishes the latest page. Caller holds the collector's lock.
func (c *labEventCollector) append(e types.BaseEvent) {
	c.view = append(c.view, e)
	if len(c.view) > vcHistoryMax+vcHistorySlack {
		drop := len(c.view) - vcHistoryMax
		c.view = append([]types.BaseEvent(nil), c.view[drop:]...) // the dropped ones freed, not kept by the array
		if c.pos -= drop; c.pos < 0 {
			c.pos = 0
		}
	}
	simulator.Map.Update(c, []types.PropertyChange{{Name: "latestPage", Val: c.latest()}})
}

// latest is the latest page: the newest events, newest first.
func (c *labEventCollector) latest() []types.BaseEvent {
	n := c.size
	if n > len(c.view) {
		n = len(c.view)
	}
	out := make([]types.BaseEvent, 0, n)
	for i := len(c.view) - 1; i >= len(c.view)-n; i-- {
		out = append(out, c.view[i])
	}
	return out
}

func pageSize(n int32) (int, bool) {
	if n == 0 {
		return vcPageDefault, true
	}
	return int(n), n > 0 && n <= vcPageMax
}

func vcHandleCreateCollectorForEvents(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.CreateCollectorForEvents)
	body := &methods.CreateCollectorForEventsBody{}
	size, ok := pageSize(req.Filter.MaxCount)
	if !ok {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "maxCount"})
		return body
	}
	vcHistory.mu.Lock()
	live := map[string]bool{}
	for _, s := range vcSessionList() {
		live[s.Key] = true
	}
	mine := 0
	for c := range vcHistory.collectors {
		if !live[c.session] {
			delete(vcHistory.collectors, c) // its session ended: vCenter drops its collectors
		} else if c.session == ctx.Session.Key {
			mine++
		}
	}
	vcHistory.mu.Unlock()
	if mine >= vcCollectorsMax {
		body.Fault_ = simulator.Fault("Too many event collectors to create", &types.InvalidState{})
		return body
	}
	c := &labEventCollector{spec: req.Filter, session: ctx.Session.Key, size: size}
	c.Self.Type = "EventHistoryCollector"
	c.Filter = req.Filter
	ctx.Session.Put(c)
	simulator.Map.WithLock(c, func() {
		// the events so far, and from now on every new one through add (which waits for this lock)
		vcHistory.mu.Lock()
		events := vcHistory.events
		vcHistory.collectors[c] = true
		vcHistory.mu.Unlock()
		for _, e := range events {
			if vcEventMatches(&c.spec, e) {
				c.view = append(c.view, e)
			}
		}
		c.LatestPage = c.latest()
	})
	body.Res = &types.CreateCollectorForEventsResponse{Returnval: c.Self}
	return body
}

// readCount checks the maxCount of a read: 1..1000.
func readCount(n int32) *soap.Fault {
	if n <= 0 || n > vcPageMax {
		return simulator.Fault("", &types.InvalidArgument{InvalidProperty: "maxCount"})
	}
	return nil
}

func (c *labEventCollector) ReadNextEvents(ctx *simulator.Context, req *types.ReadNextEvents) soap.HasFault {
	body := &methods.ReadNextEventsBody{}
	if body.Fault_ = readCount(req.MaxCount); body.Fault_ != nil {
		return body
	}
	end := c.pos + int(req.MaxCount)
	if end > len(c.view) {
		end = len(c.view)
	}
	body.Res = &types.ReadNextEventsResponse{Returnval: append([]types.BaseEvent(nil), c.view[c.pos:end]...)}
	c.pos = end
	return body
}

func (c *labEventCollector) ReadPreviousEvents(ctx *simulator.Context, req *types.ReadPreviousEvents) soap.HasFault {
	body := &methods.ReadPreviousEventsBody{}
	if body.Fault_ = readCount(req.MaxCount); body.Fault_ != nil {
		return body
	}
	start := c.pos - int(req.MaxCount)
	if start < 0 {
		start = 0
	}
	res := &types.ReadPreviousEventsResponse{}
	for i := c.pos - 1; i >= start; i-- {
		res.Returnval = append(res.Returnval, c.view[i])
	}
	c.pos = start
	body.Res = res
	return body
}

func (c *labEventCollector) RewindCollector(ctx *simulator.Context, req *types.RewindCollector) soap.HasFault {
	c.pos = 0
	return &methods.RewindCollectorBody{Res: &types.RewindCollectorResponse{}}
}

func (c *labEventCollector) ResetCollector(ctx *simulator.Context, req *types.ResetCollector) soap.HasFault {
	c.pos = len(c.view) - len(c.latest())
	return &methods.ResetCollectorBody{Res: &types.ResetCollectorResponse{}}
}

func (c *labEventCollector) SetCollectorPageSize(ctx *simulator.Context, req *types.SetCollectorPageSize) soap.HasFault {
	size, ok := pageSize(req.MaxCount)
	if !ok {
		return &methods.SetCollectorPageSizeBody{Fault_: simulator.Fault("", &types.InvalidArgument{InvalidProperty: "maxCount"})}
	}
	c.size = size
	simulator.Map.Update(c, []types.PropertyChange{{Name: "latestPage", Val: c.latest()}})
	return &methods.SetCollectorPageSizeBody{Res: &types.SetCollectorPageSizeResponse{}}
}

func (c *labEventCollector) DestroyCollector(ctx *simulator.Context, req *types.DestroyCollector) soap.HasFault {
	vcHistory.mu.Lock()
	delete(vcHistory.collectors, c)
	vcHistory.mu.Unlock()
	ctx.Session.Remove(req.This)
	return &methods.DestroyCollectorBody{Res: &types.DestroyCollectorResponse{}}
}

// Get is what the PropertyCollector reads: the filter and the latest page.
func (c *labEventCollector) Get() mo.Reference {
	clone := c.EventHistoryCollector
	clone.LatestPage = c.latest()
	return &clone
}

func init() {
	vcCallFixes["CreateCollectorForEvents"] = vcHandleCreateCollectorForEvents
}
