package main

// Events. vsguesttruth keeps its record in vCenter: it logs what it did on the VM with
// EventManager.LogUserEvent and reads it back with QueryEvents or an EventHistoryCollector.
//   - LogUserEvent (missing in 0.24.2, MethodNotFound): vCenter posts a GeneralUserEvent with
//     `entity` and `message` set, the entity also in the event's vm/host/computeResource/ds/
//     datacenter arguments (so an entity-filtered query or collector finds it), userName the
//     caller, fullFormattedMessage "User logged event: <msg>".
//   - QueryEvents and EventHistoryCollectors read vCenter's history, newest first where vCenter
//     gives a page (event_history_collector.go); the simulator kept only its last 1000 events.
//   - Event messages: vCenter formats every event's fullFormattedMessage. The simulator formats
//     from Go templates in EventManager.description.eventInfo and panics on the malformed
//     VmMigratedEvent template, which would break a migration. We fix the templates that do not
//     parse (PostEvent itself, for events a client posts, is the simulator's and works).
//   - LogUserEvent and PostEvent need Global.LogEvent (authorization_manager.go).
//   - vCenter keeps its events in its database: every posted event goes to the journal, with its
//     key, createdTime and user, and a restarted lab returns the same history.

import (
	"fmt"
	"log"
	"reflect"
	"sort"
	"text/template"
	"time"
	"unsafe"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

func init() {
	vcCallFixes["LogUserEvent"] = vcHandleLogUserEvent
	vcCallFixes["QueryEvents"] = vcHandleQueryEvents
	vcCallFixes["PostEvent"] = vcHandlePostEvent
	vcInstallers = append(vcInstallers, vcInstallEventFixes, vcInstallEventTap)
	registerJournal("event", replayEvent)
	journalBeforeReplay = append(journalBeforeReplay, func(*Lab) { vcBuiltEvents = vcEventsByKey() })
	journalOpened = append(journalOpened, func(l *Lab, counts map[string]int) {
		vcBuiltEvents = nil
		vcTap.startJournal(counts["event"] == 0)
	})
}

// vcEventTemplates are the vCenter messages of the events we post whose simulator template is
// missing or broken (Go text/template over the event struct).
var vcEventTemplates = map[string]string{
	"VmMigratedEvent":         "Migration of virtual machine {{.Vm.Name}} from {{.SourceHost.Name}} to {{.Host.Name}} completed",
	"VmBeingMigratedEvent":    "Migrating {{.Vm.Name}} from {{.Host.Name}} to {{.DestHost.Name}} in {{.Datacenter.Name}}",
	"VmBeingHotMigratedEvent": "Migrating {{.Vm.Name}} off host {{.Host.Name}} in {{.Datacenter.Name}}",
	"VmBeingRelocatedEvent":   "Relocating {{.Vm.Name}} from {{.Host.Name}} to {{.DestHost.Name}} in {{.Datacenter.Name}}",
	"VmRelocatedEvent":        "Completed the relocation of the virtual machine {{.Vm.Name}} from {{.SourceHost.Name}} to {{.Host.Name}}",
	"HostConnectionLostEvent": "Host {{.Host.Name}} in {{.Datacenter.Name}} is not responding",
	"HostDisconnectedEvent":   "Disconnected from {{.Host.Name}} in {{.Datacenter.Name}}. Reason: {{.Reason}}",
	"HostConnectedEvent":      "Connected to {{.Host.Name}} in {{.Datacenter.Name}}",
}

func vcInstallEventFixes() {
	em := simulator.Map.EventManager()
	simulator.Map.WithLock(em, func() {
		seen := map[string]bool{}
		for i := range em.Description.EventInfo {
			info := &em.Description.EventInfo[i]
			seen[info.Key] = true
			if fixed, ok := vcEventTemplates[info.Key]; ok {
				if _, err := template.New(info.Key).Parse(info.FullFormat); err != nil {
					info.FullFormat = fixed
				}
				continue
			}
			if _, err := template.New(info.Key).Parse(info.FullFormat); err != nil {
				log.Printf("events: event template %s does not parse (%v), using its description", info.Key, err)
				info.FullFormat = info.Description
			}
		}
		for key, format := range vcEventTemplates {
			if !seen[key] {
				em.Description.EventInfo = append(em.Description.EventInfo, types.EventDescriptionEventDetail{
					Key: key, Description: key, Category: "info", FullFormat: format,
				})
			}
		}
		vcKeepEventExMessages(em)
	})
}

// vcKeepEventExMessages: the simulator formats every event from the first eventInfo entry whose key
// is its Go type, so every EventEx would get the first extended event's format; vCenter formats an
// EventEx from its own eventTypeId's entry. Whoever posts an EventEx here sets its message (the lab's
// storage events format theirs), so the simulator's template cache gets one that keeps it. The cache
// is unexported: reached through reflect, and left alone if its shape is not the one expected.
func vcKeepEventExMessages(em *simulator.EventManager) {
	field := reflect.ValueOf(em).Elem().FieldByName("templates")
	if !field.IsValid() || field.Type() != reflect.TypeOf(map[string]*template.Template{}) {
		log.Printf("events: the simulator's event templates are not where expected: EventEx messages may be wrong")
		return
	}
	templates := *(*map[string]*template.Template)(unsafe.Pointer(field.UnsafeAddr()))
	if templates == nil {
		return
	}
	templates["EventEx"] = template.Must(template.New("EventEx").Parse("{{.FullFormattedMessage}}"))
}

// vcPostEvents posts events through the simulator's EventManager, as its own methods do. While the
// journal is replayed it posts nothing: the journal holds the events the original change posted.
func vcPostEvents(ctx *simulator.Context, events ...types.BaseEvent) {
	if vcReplaying {
		return
	}
	em := simulator.Map.EventManager()
	post := func() {
		for _, e := range events {
			em.PostEvent(ctx, &types.PostEvent{EventToPost: e})
		}
	}
	simulator.Map.WithLock(em, post) // never held by our callers
}

// vcEventArgs fills an event's entity arguments for ref the way vCenter does: the entity itself
// and the inventory around it (a VM's host, compute resource and datacenter).
func vcEventArgs(ref types.ManagedObjectReference) types.Event {
	var e types.Event
	dc := vcAncestor(ref, "Datacenter")
	switch ref.Type {
	case "VirtualMachine":
		e.Vm = &types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(ref)}, Vm: ref}
		if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok && vm.Runtime.Host != nil {
			h := vcEventArgs(*vm.Runtime.Host)
			e.Host, e.ComputeResource = h.Host, h.ComputeResource
			if dc == nil && h.Datacenter != nil {
				d := h.Datacenter.Datacenter
				dc = &d
			}
		}
	case "HostSystem":
		e.Host = &types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(ref)}, Host: ref}
		if host, ok := simulator.Map.Get(ref).(*simulator.HostSystem); ok && host.Parent != nil {
			cr := *host.Parent
			e.ComputeResource = &types.ComputeResourceEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(cr)}, ComputeResource: cr}
		}
	case "ClusterComputeResource", "ComputeResource":
		e.ComputeResource = &types.ComputeResourceEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(ref)}, ComputeResource: ref}
	case "Datastore":
		e.Ds = &types.DatastoreEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(ref)}, Datastore: ref}
	case "Datacenter":
		d := ref
		dc = &d
	}
	if dc != nil {
		e.Datacenter = &types.DatacenterEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(*dc)}, Datacenter: *dc}
	}
	return e
}

func vcHandleLogUserEvent(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.LogUserEvent)
	if vcEntity(req.Entity) == nil {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.Entity},
			fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", req.Entity))
	}
	if denied := vcCheckPrivilege(ctx, "Global.LogEvent", req.Entity); denied != nil {
		return denied
	}
	event := &types.GeneralUserEvent{
		GeneralEvent: types.GeneralEvent{Event: vcEventArgs(req.Entity), Message: req.Msg},
		Entity: &types.ManagedEntityEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: vcName(req.Entity)},
			Entity:              req.Entity,
		},
	}
	event.FullFormattedMessage = "User logged event: " + req.Msg
	vcPostEvents(ctx, event)
	return &methods.LogUserEventBody{Res: &types.LogUserEventResponse{}}
}

func vcHandleQueryEvents(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.QueryEvents)
	if _, ok := simulator.Map.Get(req.This).(*simulator.EventManager); !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	max := int(req.Filter.MaxCount)
	if max < 0 {
		return vcFault(&types.InvalidArgument{InvalidProperty: "maxCount"}, "A specified parameter was not correct: maxCount")
	}
	if max == 0 {
		max = vcQueryDefault
	}
	events := vcHistory.matching(&req.Filter, max)
	out := make([]types.BaseEvent, 0, len(events)) // newest first
	for i := len(events) - 1; i >= 0; i-- {
		out = append(out, events[i])
	}
	return &methods.QueryEventsBody{Res: &types.QueryEventsResponse{Returnval: out}}
}

// vcHandlePostEvent is the simulator's PostEvent behind vCenter's privilege check (Global.LogEvent
// on the entity the event is about, the root folder when it names none).
func vcHandlePostEvent(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.PostEvent)
	em, ok := simulator.Map.Get(req.This).(*simulator.EventManager)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	if req.EventToPost == nil {
		return vcFault(&types.InvalidArgument{InvalidProperty: "eventToPost"}, "A specified parameter was not correct: eventToPost")
	}
	obj := vcRootFolder()
	e := req.EventToPost.GetEvent()
	switch {
	case e.Vm != nil:
		obj = e.Vm.Vm
	case e.Host != nil:
		obj = e.Host.Host
	case e.Ds != nil:
		obj = e.Ds.Datastore
	case e.ComputeResource != nil:
		obj = e.ComputeResource.ComputeResource
	case e.Datacenter != nil:
		obj = e.Datacenter.Datacenter
	}
	if denied := vcCheckPrivilege(ctx, "Global.LogEvent", obj); denied != nil {
		return denied
	}
	var res soap.HasFault
	simulator.Map.WithLock(em, func() { res = em.PostEvent(ctx, req) })
	return res
}

// --- the journal: every event vCenter posted --------------------------------------------------------
//
//	{"t":"event","key":42,"type":"VmMigratedEvent","user":"user","created":"...","message":"...","xml":"<e>...</e>"}
//
// The event is kept whole (XML); key, creation time, user and message are given back at replay.

type vcEventDoc struct {
	XMLName xml.Name        `xml:"e"`
	Event   types.BaseEvent `xml:"event,typeattr"`
}

// vcBuiltEvents: while the journal is replayed, the events of building the inventory (posted anew
// by every start, with the same keys), by key.
var vcBuiltEvents map[int32]types.BaseEvent

func journalEvent(e types.BaseEvent) {
	if vcJournal == nil {
		return
	}
	doc, err := vcXMLEncode(vcEventDoc{Event: e})
	if err != nil {
		log.Printf("journal: cannot encode event %T: %v", e, err)
		return
	}
	ev := e.GetEvent()
	vcJournal.write("event", map[string]interface{}{
		"key": ev.Key, "type": reflect.TypeOf(e).Elem().Name(), "user": ev.UserName,
		"created": ev.CreatedTime.UTC().Format(time.RFC3339Nano), "message": ev.FullFormattedMessage, "xml": doc,
	})
}

// --- the event hook: every event the EventManager posts reaches the history (and the journal) -----

// vcEventTap is a Map handler on a simulator event collector without a filter: the EventManager
// updates that collector's latestPage for every event it posts (LogUserEvent, PostEvent, the
// simulator's own login, power and task events, ours), so the tap sees them all, keys in order, and
// hands them to the history (event_history_collector.go) and, with --journal, to the journal.
type vcEventTap struct {
	self      types.ManagedObjectReference
	collector types.ManagedObjectReference
	obj       *simulator.EventHistoryCollector
	last      int32 // guarded by the EventManager's lock (PostEvent holds it while notifying)
	journaled int32 // the last event key the journal has
	journal   bool
}

var vcTap *vcEventTap

func (t *vcEventTap) Reference() types.ManagedObjectReference   { return t.self }
func (t *vcEventTap) PutObject(mo.Reference)                    {}
func (t *vcEventTap) RemoveObject(types.ManagedObjectReference) {}

func (t *vcEventTap) UpdateObject(o mo.Reference, changes []types.PropertyChange) {
	if o.Reference() != t.collector {
		return
	}
	var events []types.BaseEvent
	for _, c := range changes {
		if c.Name != "latestPage" {
			continue
		}
		switch v := c.Val.(type) { // a copy: watchers of latestPage share the published slice
		case types.ArrayOfEvent:
			events = append([]types.BaseEvent(nil), v.Event...)
		case []types.BaseEvent:
			events = append([]types.BaseEvent(nil), v...)
		}
	}
	if events == nil && t.obj != nil {
		events = t.obj.GetLatestPage()
	}
	sort.Slice(events, func(i, j int) bool { return events[i].GetEvent().Key < events[j].GetEvent().Key })
	for _, e := range events {
		k := e.GetEvent().Key
		if k <= t.last {
			continue
		}
		t.last = k
		vcHistory.add(e)
		// EventManager.latestEvent (the PostEvent calling us holds the EventManager's lock)
		simulator.Map.Update(simulator.Map.EventManager(), []types.PropertyChange{{Name: "latestEvent", Val: e}})
		if t.journal && k > t.journaled {
			t.journaled = k
			journalEvent(e)
		}
	}
}

// vcInstallEventTap starts the history with the events of building the inventory (the simulator's
// last 1000) and taps every later one.
func vcInstallEventTap() {
	em := simulator.Map.EventManager()
	ctx := newInternalContext()
	var ref types.ManagedObjectReference
	simulator.Map.WithLock(em, func() {
		res := em.CreateCollectorForEvents(ctx, &types.CreateCollectorForEvents{This: em.Self, Filter: types.EventFilterSpec{}})
		if body, ok := res.(*methods.CreateCollectorForEventsBody); ok && body.Res != nil {
			ref = body.Res.Returnval
		}
	})
	if ref.Value == "" {
		log.Printf("events: no event collector: the event history stays empty")
		return
	}
	tap := &vcEventTap{self: types.ManagedObjectReference{Type: "VsgtEventTap", Value: "vsgt-event-tap"}, collector: ref}
	tap.obj, _ = ctx.Session.Get(ref).(*simulator.EventHistoryCollector)
	existing := vcEventsByKey()
	keys := make([]int, 0, len(existing))
	for k := range existing {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	for _, k := range keys {
		vcHistory.add(existing[int32(k)])
		tap.last = int32(k)
	}
	vcTap = tap
	simulator.Map.AddHandler(tap)
}

// startJournal journals every event posted from now on; fresh (a journal without events): the
// history so far too, so a restart gives the events of building the inventory their original times.
func (t *vcEventTap) startJournal(fresh bool) {
	if t == nil {
		log.Printf("journal: no event tap: events are not journaled")
		return
	}
	em := simulator.Map.EventManager()
	simulator.Map.WithLock(em, func() {
		if fresh {
			vcHistory.mu.Lock()
			events := vcHistory.events
			vcHistory.mu.Unlock()
			for _, e := range events {
				journalEvent(e)
			}
		}
		t.journaled, t.journal = t.last, true
	})
}

// vcEventsByKey returns the events the EventManager holds (its last 1000), by key.
func vcEventsByKey() map[int32]types.BaseEvent {
	out := map[int32]types.BaseEvent{}
	em := simulator.Map.EventManager()
	ctx := newInternalContext()
	simulator.Map.WithLock(em, func() {
		res := em.QueryEvents(ctx, &types.QueryEvents{This: em.Self, Filter: types.EventFilterSpec{MaxCount: 1000}})
		if body, ok := res.(*methods.QueryEventsBody); ok && body.Res != nil {
			for _, e := range body.Res.Returnval {
				out[e.GetEvent().Key] = e
			}
		}
	})
	return out
}

// replayEvent posts the event again, then gives it back what PostEvent stamps anew: its key,
// creation time, user and message, so queries after the restart return the same history. An event
// of building the inventory (posted again by this start, same key and type) only gets its
// original time, user and message back.
func replayEvent(l *Lab, e *journalEntry) error {
	var r struct {
		XML string `json:"xml"`
	}
	if err := e.decode(&r); err != nil {
		return err
	}
	var doc vcEventDoc
	if err := vcXMLDecode(r.XML, &doc); err != nil {
		return err
	}
	if doc.Event == nil {
		return fmt.Errorf("no event in the entry")
	}
	orig := *doc.Event.GetEvent()
	em := simulator.Map.EventManager()
	if have, ok := vcBuiltEvents[orig.Key]; ok && reflect.TypeOf(have) == reflect.TypeOf(doc.Event) {
		simulator.Map.WithLock(em, func() {
			ev := have.GetEvent()
			ev.CreatedTime, ev.UserName, ev.FullFormattedMessage = orig.CreatedTime, orig.UserName, orig.FullFormattedMessage
		})
		return nil
	}
	ctx := newInternalContext()
	ctx.Session.UserName = orig.UserName
	simulator.Map.WithLock(em, func() {
		em.PostEvent(ctx, &types.PostEvent{This: em.Self, EventToPost: doc.Event})
		ev := doc.Event.GetEvent()
		if ev.Key != orig.Key {
			log.Printf("journal: event %d came back as %d", orig.Key, ev.Key)
		}
		ev.Key, ev.ChainId, ev.CreatedTime = orig.Key, orig.ChainId, orig.CreatedTime
		ev.UserName, ev.FullFormattedMessage = orig.UserName, orig.FullFormattedMessage
	})
	return nil
}
