package main

// The journal (--journal FILE): what survives a restart of the lab's vCenter.
//
// vCenter keeps its inventory and history in a database: a restart (or crash) of vpxd loses the
// sessions and the tasks in flight, never extraConfig, VM placement, events, extensions or custom
// attributes. The SAN's physical state (a pulled cable, a dead LUN) is not vCenter's at all and does
// not change either. The lab has no database, so while it runs it appends one JSON line per change
// that must survive, and a lab started on an existing journal replays it after building the
// inventory and before it serves, so it comes back as it was.
//
// Every line is {"t": KIND, "at": TIME, fields...}. The file that owns a kind of state writes its
// lines (vcJournal.write) and, in its init, registers how a restarted lab replays them
// (registerJournal), next to the format of the line; `grep -n registerJournal *.go` lists them all.
// The journal's own kind is {"t":"start","moref_base":N}: a start, above whose moref counter the
// task morefs of the next start begin.
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vmware/govmomi/simulator"
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

// journalList writes a whole list of vim25 values as one entry: the list as XML (doc) and, for a
// person reading the journal, the names of its items under namesField.
func journalList(kind, namesField string, names []string, doc interface{}) {
	if vcJournal == nil {
		return
	}
	encoded, err := vcXMLEncode(doc)
	if err != nil {
		log.Printf("journal: cannot encode the %s: %v", kind, err)
		return
	}
	vcJournal.write(kind, map[string]interface{}{namesField: names, "xml": encoded})
}

// --- writing ------------------------------------------------------------------------------------

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

// --- the kinds of entries, registered by the code that owns them ---------------------------------

// journalEntry is one journal line: its kind, and the line itself for the kind's replay to decode.
type journalEntry struct {
	T    string `json:"t"`
	line []byte
}

// decode reads the entry's fields into v, the owning kind's own record struct.
func (e *journalEntry) decode(v interface{}) error { return json.Unmarshal(e.line, v) }

// journalKind replays the entries of one kind. latestOf, when set, names the object an entry holds
// the whole state of: only the last entry of each object is replayed.
type journalKind struct {
	replay   func(l *Lab, e *journalEntry) error
	latestOf func(e *journalEntry) string
}

var journalKinds = map[string]journalKind{}

// registerJournal declares a kind of journal entry and how a restarted lab re-applies it.
func registerJournal(kind string, replay func(l *Lab, e *journalEntry) error) {
	registerJournalLatest(kind, nil, replay)
}

// registerJournalLatest declares a kind whose entries each hold an object's whole state (latestOf
// names the object): a replay applies only the last entry of each object.
func registerJournalLatest(kind string, latestOf func(e *journalEntry) string, replay func(l *Lab, e *journalEntry) error) {
	if _, dup := journalKinds[kind]; dup {
		log.Panicf("journal: entry kind %q registered twice", kind)
	}
	journalKinds[kind] = journalKind{replay: replay, latestOf: latestOf}
}

// journalBeforeReplay runs before the first entry is replayed (to note what the inventory's build
// made, which entries are compared with); journalOpened once the journal is open for appending,
// with the number of entries of each kind the file held (to start writing the kind's entries).
var (
	journalBeforeReplay []func(l *Lab)
	journalOpened       []func(l *Lab, counts map[string]int)
)

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

// replayJournal re-applies a journal (if the file exists) and opens it for appending. It runs after
// the inventory and the dispatch of the lab's SOAP methods are built, before the SOAP endpoint serves.
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
			e := journalEntry{line: []byte(text)}
			if err := json.Unmarshal(e.line, &e); err != nil {
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

	// an entry of a latestOf kind holds an object's whole state: only the last one of each object
	// matters (a service that rewrites guestinfo on every path flap leaves tens of thousands of them)
	latest := map[string]int{}
	superseded := make([]bool, len(entries))
	for i := range entries {
		if k, ok := journalKinds[entries[i].T]; ok && k.latestOf != nil {
			id := entries[i].T + "\x00" + k.latestOf(&entries[i])
			if prev, seen := latest[id]; seen {
				superseded[prev] = true
			}
			latest[id] = i
		}
	}
	vcReplaying = true
	for _, f := range journalBeforeReplay {
		f(l)
	}
	applied, base := 0, int64(0)
	counts := map[string]int{}
	for i := range entries {
		e := &entries[i]
		counts[e.T]++
		if superseded[i] {
			applied++ // superseded by a later entry of the same object
			continue
		}
		if e.T == "start" {
			var s struct {
				MorefBase int64 `json:"moref_base"`
			}
			if err := e.decode(&s); err == nil && s.MorefBase > base {
				base = s.MorefBase
			}
			continue
		}
		kind, ok := journalKinds[e.T]
		if !ok {
			log.Printf("journal: entry %d (%s) not replayed: unknown entry type %q", i+1, e.T, e.T)
			continue
		}
		if err := kind.replay(l, e); err != nil {
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
	for _, f := range journalOpened {
		f(l, counts)
	}
	if counter != nil {
		j.write("start", map[string]interface{}{"moref_base": atomic.LoadInt64(counter), "pid": os.Getpid()})
	}
	return applied, nil
}
