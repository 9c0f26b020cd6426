package main

// The journal (--journal FILE): what survives a restart of the lab's vCenter.
//
// vCenter keeps its inventory and history in a database: a restart (or crash) of vpxd loses the
// sessions and the tasks in flight, never extraConfig, VM placement, events, extensions or custom
// attributes. The SAN's physical state (a pulled cable, a dead LUN) is not vCenter's at all and does
// not change either. The lab has no database, so while it runs it appends one JSON line per change
// that must survive, and a lab started on an existing journal replays it after building the
// inventory and before it serves, so it comes back as it was:
//
//	{"t":"fault","kind":"path","body":{...}}      control API fault (same function as the API)
//	{"t":"restore"}                                control API restore
//	{"t":"task_mode","mode":"slow",...}            control API task mode (a lab condition, like a fault)
//	{"t":"path_soap","host":..,"path":..,"enable":..}  Enable/DisableMultipathPath (the host keeps it)
//	{"t":"extra_config","vm":..,"options":[[k,v]..],"change_version":..,"modified":..}
//	{"t":"placement","vm":..,"host":..,"pool":"cl-a/Resources","home":..,"disks":{"2000":"ds"}}
//	{"t":"event","key":..,"type":..,"xml":"..."}   every event vCenter posted (key, time, user kept)
//	{"t":"extensions","xml":"..."}                 the extension list after a change
//	{"t":"custom_field","method":"SetField","xml":"..."}  custom field definitions and values
//	{"t":"start","moref_base":N}                   a start; task morefs of a later start begin above
//
// Objects are named (VM, host, datastore names, pool paths); events and custom field values keep
// their morefs, which are the same for the same topology at every start (inventory.go). Lines are
// appended and flushed one by one (no fsync: a crash of the lab, not of the machine, is what we
// model); a line cut short by SIGKILL is skipped at replay. Nothing is written without the flag.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// vcMorefStride: the moref numbers a start may use before the next start's begin. A client that
// kept a task moref across the restart must find it unknown, never another task under its name.
const vcMorefStride = 10000000

type labJournal struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// vcJournal is nil without --journal and while the journal is replayed: writes are no-ops then.
var vcJournal *labJournal

// vcReplaying is set while the journal is replayed: what the replay re-applies posts no events
// (the journal has the original ones).
var vcReplaying bool

func openJournal(path string) (*labJournal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	// a line cut short by a kill: end it, so the next entry starts on a line of its own
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		if r, err := os.Open(path); err == nil {
			b := make([]byte, 1)
			if _, err := r.ReadAt(b, st.Size()-1); err == nil && b[0] != '\n' {
				_, _ = f.Write([]byte("\n"))
			}
			r.Close()
		}
	}
	return &labJournal{f: f, path: path}, nil
}

// write appends one entry: {"t": kind, "at": now, fields...}.
func (j *labJournal) write(kind string, fields map[string]interface{}) {
	if j == nil {
		return
	}
	entry := map[string]interface{}{"t": kind, "at": time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range fields {
		entry[k] = v
	}
	line, err := json.Marshal(entry)
	if err != nil {
		log.Printf("journal: cannot encode %s entry: %v", kind, err)
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(append(line, '\n')); err != nil {
		log.Printf("journal: cannot write %s: %v", j.path, err)
	}
}

func (j *labJournal) close() {
	if j != nil {
		j.mu.Lock()
		_ = j.f.Close()
		j.mu.Unlock()
	}
}

// --- XML for the vim25 values the journal keeps whole (events, extensions, requests) -----------

func vcXMLEncode(v interface{}) (string, error) {
	b, err := xml.Marshal(v)
	return string(b), err
}

func vcXMLDecode(s string, v interface{}) error {
	d := xml.NewDecoder(strings.NewReader(s))
	d.TypeFunc = types.TypeFunc()
	return d.Decode(v)
}

type vcEventDoc struct {
	XMLName xml.Name        `xml:"e"`
	Event   types.BaseEvent `xml:"event,typeattr"`
}

type vcExtensionsDoc struct {
	XMLName    xml.Name          `xml:"x"`
	Extensions []types.Extension `xml:"extension"`
}

// --- writing: the hooks the vcenter_*.go files and the control API call --------------------------

func journalExtraConfig(vm *simulator.VirtualMachine, list []types.BaseOptionValue, changeVersion string, modified time.Time) {
	if vcJournal == nil {
		return
	}
	opts := make([][2]string, 0, len(list))
	for _, o := range list {
		ov := o.GetOptionValue()
		val, _ := vcExtraConfigString(ov.Value)
		opts = append(opts, [2]string{ov.Key, val})
	}
	vcJournal.write("extra_config", map[string]interface{}{
		"vm": vm.Name, "moref": vm.Self.Value, "options": opts,
		"change_version": changeVersion, "modified": modified.UTC().Format(time.RFC3339Nano),
	})
}

func journalPlacement(vm *simulator.VirtualMachine, p *vcPlacement) {
	if vcJournal == nil {
		return
	}
	fields := map[string]interface{}{"vm": vm.Name, "moref": vm.Self.Value, "host": p.host.Name, "pool": vcPoolPath(p.pool)}
	if p.homeDS != nil {
		fields["home"] = p.homeDS.Name
	}
	disks := map[string]string{}
	for key, ds := range p.diskDS {
		disks[strconv.Itoa(int(key))] = ds.Name
	}
	fields["disks"] = disks
	vcJournal.write("placement", fields)
}

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

func journalExtensions(list []types.Extension) {
	if vcJournal == nil {
		return
	}
	doc, err := vcXMLEncode(vcExtensionsDoc{Extensions: list})
	if err != nil {
		log.Printf("journal: cannot encode the extension list: %v", err)
		return
	}
	keys := make([]string, 0, len(list))
	for _, e := range list {
		keys = append(keys, e.Key)
	}
	vcJournal.write("extensions", map[string]interface{}{"keys": keys, "xml": doc})
}

// journalRequest keeps a SOAP request whole (custom fields): replayed by calling the same method.
func journalRequest(kind, method string, req interface{}, extra map[string]interface{}) {
	if vcJournal == nil {
		return
	}
	doc, err := vcXMLEncode(req)
	if err != nil {
		log.Printf("journal: cannot encode %s: %v", method, err)
		return
	}
	fields := map[string]interface{}{"method": method, "xml": doc}
	for k, v := range extra {
		fields[k] = v
	}
	vcJournal.write(kind, fields)
}

// --- the event hook: an event collector of ours sees every event the EventManager posts ----------

// vcEventTap is a Map handler: the EventManager updates the latestPage of each of its collectors
// for every event it posts (LogUserEvent, PostEvent, the simulator's own login, power and task
// events, ours), so one collector without a filter sees them all, keys in order.
type vcEventTap struct {
	self      types.ManagedObjectReference
	collector types.ManagedObjectReference
	obj       *simulator.EventHistoryCollector
	last      int32 // guarded by the EventManager's lock (PostEvent holds it while notifying)
}

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
		if k := e.GetEvent().Key; k > t.last {
			t.last = k
			journalEvent(e)
		}
	}
}

// installEventTap journals every event posted from now on; fresh (a journal without events): the
// events of building the inventory too, so a restart gives them back their original times.
func (l *Lab) installEventTap(fresh bool) {
	em := simulator.Map.EventManager()
	var ref types.ManagedObjectReference
	simulator.Map.WithLock(em, func() {
		res := em.CreateCollectorForEvents(l.ctx, &types.CreateCollectorForEvents{This: em.Self, Filter: types.EventFilterSpec{}})
		if body, ok := res.(*methods.CreateCollectorForEventsBody); ok && body.Res != nil {
			ref = body.Res.Returnval
		}
	})
	if ref.Value == "" {
		log.Printf("journal: no event collector: events are not journaled")
		return
	}
	tap := &vcEventTap{self: types.ManagedObjectReference{Type: "VsgtEventTap", Value: "vsgt-event-tap"}, collector: ref}
	tap.obj, _ = l.ctx.Session.Get(ref).(*simulator.EventHistoryCollector)
	existing := vcEventsByKey()
	keys := make([]int, 0, len(existing))
	for k := range existing {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	for _, k := range keys {
		if fresh {
			journalEvent(existing[int32(k)])
		}
		tap.last = int32(k)
	}
	simulator.Map.AddHandler(tap)
}

// --- the moref counter --------------------------------------------------------------------------

// vcRegistryCounter returns the simulator registry's moref counter: the first field of
// simulator.Registry in 0.24.2 ("Keep first to ensure 64-bit alignment"). It checks that claim
// against a number it allocates, and returns nil when the layout is not what it expects.
func vcRegistryCounter() *int64 {
	p := (*int64)(unsafe.Pointer(simulator.Map))
	probe := &mo.Folder{}
	simulator.Map.NewEntity(probe)
	i := strings.LastIndexByte(probe.Self.Value, '-')
	n, err := strconv.ParseInt(probe.Self.Value[i+1:], 10, 64)
	if i < 0 || err != nil || atomic.LoadInt64(p) != n {
		return nil
	}
	return p
}

// --- replay ---------------------------------------------------------------------------------------

type journalEntry struct {
	T string `json:"t"`

	Kind string                 `json:"kind"`
	Body map[string]interface{} `json:"body"`

	Mode       string `json:"mode"`
	DurationMS int    `json:"duration_ms"`
	Message    string `json:"message"`

	Host   string `json:"host"`
	Path   string `json:"path"`
	Enable bool   `json:"enable"`

	VM            string            `json:"vm"`
	Options       [][2]string       `json:"options"`
	ChangeVersion string            `json:"change_version"`
	Modified      string            `json:"modified"`
	Pool          string            `json:"pool"`
	Home          string            `json:"home"`
	Disks         map[string]string `json:"disks"`

	Key    int32  `json:"key"`
	XML    string `json:"xml"`
	Method string `json:"method"`

	MorefBase int64 `json:"moref_base"`
}

// replayJournal re-applies a journal (if the file exists) and opens it for appending. It runs after
// the inventory and the vCenter fixes are built, before the SOAP endpoint serves.
func (l *Lab) replayJournal(path string) (int, error) {
	var entries []journalEntry
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		line := 0
		for sc.Scan() {
			line++
			text := strings.TrimSpace(sc.Text())
			if text == "" {
				continue
			}
			var e journalEntry
			if err := json.Unmarshal([]byte(text), &e); err != nil {
				log.Printf("journal: line %d unreadable (cut short by a kill?), skipped: %v", line, err)
				continue
			}
			entries = append(entries, e)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("journal %s: %v", path, err)
		}
	} else if !os.IsNotExist(err) {
		return 0, fmt.Errorf("journal %s: %v", path, err)
	}

	// an extra_config entry holds the VM's whole extraConfig: only the last one of each VM matters (a
	// service that rewrites guestinfo on every path flap leaves tens of thousands of them)
	lastConfig := map[string]int{}
	for i := range entries {
		if entries[i].T == "extra_config" {
			lastConfig[entries[i].VM] = i
		}
	}
	vcReplaying = true
	applied, base, events := 0, int64(0), 0
	built := vcEventsByKey() // the events of building the inventory: posted anew by every start
	for i := range entries {
		e := &entries[i]
		if e.T == "extra_config" && lastConfig[e.VM] != i {
			applied++ // superseded by a later entry of the same VM
			continue
		}
		switch e.T {
		case "start":
			if e.MorefBase > base {
				base = e.MorefBase
			}
			continue
		case "event":
			events++
		}
		if err := l.replayEntry(e, built); err != nil {
			log.Printf("journal: entry %d (%s) not replayed: %v", i+1, e.T, err)
			continue
		}
		applied++
	}
	vcReplaying = false
	if len(entries) > 0 {
		log.Printf("replayed %d journal entries", applied)
	}

	counter := vcRegistryCounter()
	if counter == nil {
		log.Printf("journal: the simulator's moref counter is not where expected: task morefs may repeat after a restart")
	} else if base > 0 {
		if next := base + vcMorefStride; atomic.LoadInt64(counter) < next {
			atomic.StoreInt64(counter, next)
		}
	}

	j, err := openJournal(path)
	if err != nil {
		return applied, fmt.Errorf("journal %s: %v", path, err)
	}
	vcJournal = j
	l.installEventTap(events == 0)
	if counter != nil {
		j.write("start", map[string]interface{}{"moref_base": atomic.LoadInt64(counter), "pid": os.Getpid()})
	}
	return applied, nil
}

func (l *Lab) replayEntry(e *journalEntry, built map[int32]types.BaseEvent) error {
	switch e.T {
	case "fault":
		return l.applyFault(e.Kind, e.Body)
	case "restore":
		l.restore()
		return vcSetTaskMode(vcTaskMode{Mode: vcTaskNormal})
	case "task_mode":
		return vcSetTaskMode(vcTaskMode{Mode: e.Mode, DurationMS: e.DurationMS, Message: e.Message})
	case "path_soap":
		h, err := l.host(e.Host)
		if err != nil {
			return err
		}
		if f := l.setPathFromSOAP(nil, h, e.Path, e.Enable); f != nil {
			return fmt.Errorf("%s on %s: %T", e.Path, e.Host, f)
		}
		return nil
	case "extra_config":
		return l.replayExtraConfig(e)
	case "placement":
		return l.replayPlacement(e)
	case "event":
		return replayEvent(e, built)
	case "extensions":
		var doc vcExtensionsDoc
		if err := vcXMLDecode(e.XML, &doc); err != nil {
			return err
		}
		return vcReplayExtensions(doc.Extensions)
	case "custom_field":
		return l.replayCustomField(e)
	}
	return fmt.Errorf("unknown entry type %q", e.T)
}

func (l *Lab) vmByName(name string) (*simulator.VirtualMachine, error) {
	for _, v := range l.san.vms {
		if v != nil && v.name == name {
			if vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: v.moref}).(*simulator.VirtualMachine); ok && vm.Name == name {
				return vm, nil
			}
		}
	}
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm, ok := e.(*simulator.VirtualMachine); ok && vm.Name == name {
			return vm, nil
		}
	}
	return nil, fmt.Errorf("unknown VM %q", name)
}

func (l *Lab) replayExtraConfig(e *journalEntry) error {
	vm, err := l.vmByName(e.VM)
	if err != nil {
		return err
	}
	list := make([]types.BaseOptionValue, 0, len(e.Options))
	for _, kv := range e.Options {
		list = append(list, &types.OptionValue{Key: kv[0], Value: kv[1]})
	}
	modified, err := time.Parse(time.RFC3339Nano, e.Modified)
	if err != nil {
		modified = time.Now().UTC()
	}
	simulator.Map.WithLock(vm, func() {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "config.extraConfig", Val: list},
			{Name: "config.changeVersion", Val: e.ChangeVersion},
			{Name: "config.modified", Val: modified},
		})
	})
	return nil
}

func (l *Lab) replayPlacement(e *journalEntry) error {
	vm, err := l.vmByName(e.VM)
	if err != nil {
		return err
	}
	h := l.san.hostByName[e.Host]
	if h == nil {
		return fmt.Errorf("unknown host %q", e.Host)
	}
	pool, err := vcPoolByPath(e.Pool)
	if err != nil {
		return err
	}
	p := &vcPlacement{host: h.inv.mo, pool: pool, diskDS: map[int32]*simulator.Datastore{}}
	dsByName := func(name string) (*simulator.Datastore, error) {
		if d := l.san.dsByName[name]; d != nil {
			return d.inv.mo, nil
		}
		if ds := vcDatastoreByName(name, vm); ds != nil {
			return ds, nil
		}
		return nil, fmt.Errorf("unknown datastore %q", name)
	}
	if e.Home != "" {
		if p.homeDS, err = dsByName(e.Home); err != nil {
			return err
		}
	}
	for key, name := range e.Disks {
		k, err := strconv.Atoi(key)
		if err != nil {
			return fmt.Errorf("bad disk key %q", key)
		}
		ds, err := dsByName(name)
		if err != nil {
			return err
		}
		p.diskDS[int32(k)] = ds
	}
	simulator.Map.WithLock(vm, func() { vcMovePlacement(l.ctx, vm, p, true) })
	return nil
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
func replayEvent(e *journalEntry, built map[int32]types.BaseEvent) error {
	var doc vcEventDoc
	if err := vcXMLDecode(e.XML, &doc); err != nil {
		return err
	}
	if doc.Event == nil {
		return fmt.Errorf("no event in the entry")
	}
	orig := *doc.Event.GetEvent()
	em := simulator.Map.EventManager()
	if have, ok := built[orig.Key]; ok && reflect.TypeOf(have) == reflect.TypeOf(doc.Event) {
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

// --- resource pools by path ("cl-a/Resources/child") ---------------------------------------------

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
