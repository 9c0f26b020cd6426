package main

// Storage events as ESXi posts them and vCenter shows them: EventEx with an eventTypeId, the host,
// its compute resource and datacenter set, arguments "1", "2", "3" (strings), a category and vCenter's
// message format (EventManager.description.eventInfo). Sources in README.md's table: the vCenter event
// list (lamw/vcenter-event-mapping), the formats a vCenter's eventInfo gives, KB 328900, vobd/hostd logs.
//
// They come from comparing what the host reported before a change with what it reports after (one
// event per host and device whose view changed: a dead path = one event on its host, a dead array
// port = one per affected host and device, a repeated identical fault = none):
//   - a path goes dead: redundancy.degraded (two or more paths still up), redundancy.lost (one left)
//     or connectivity.lost (none left), naming the last path that went down;
//   - paths come back: connectivity.restored when the device had none up, redundancy.restored when
//     every path is up again and a redundancy problem was open;
//   - APD start, APD timeout, APD exit (apd.go); PDL and the device back online.
// A host that is not connected posts nothing; when it is connected again the difference since the
// last view vCenter had is posted at once. Each esx.problem event stays in the host's configIssue
// until its esx.clear event (same device) is posted.

import (
	"sort"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// esxEventInfo is one entry of vCenter's EventManager.description.eventInfo for an esx.* event.
type esxEventInfo struct {
	category, description, format string
}

const (
	evRedundancyDegraded = "esx.problem.storage.redundancy.degraded"
	evRedundancyLost     = "esx.problem.storage.redundancy.lost"
	evRedundancyRestored = "esx.clear.storage.redundancy.restored"
	evConnectivityLost   = "esx.problem.storage.connectivity.lost"
	evConnectivityBack   = "esx.clear.storage.connectivity.restored"
	evAPDStart           = "esx.problem.storage.apd.start"
	evAPDTimeout         = "esx.problem.storage.apd.timeout"
	evAPDExit            = "esx.clear.storage.apd.exit"
	evPDL                = "esx.problem.scsi.device.state.permanentloss"
	evPDLOnline          = "esx.clear.scsi.device.state.permanentloss.deviceonline"
)

var esxEvents = map[string]esxEventInfo{
	evRedundancyDegraded: {"warning", "Degraded Storage Path Redundancy",
		"Path redundancy to storage device {1} degraded. Path {2} is down. Affected datastores: {3}."},
	evRedundancyLost: {"warning", "Lost Storage Path Redundancy",
		"Lost path redundancy to storage device {1}. Path {2} is down. Affected datastores: {3}."},
	evRedundancyRestored: {"info", "Restored path redundancy to storage device",
		"Path redundancy to storage device {1} (Datastores: {2}) restored. Path {3} is active again."},
	evConnectivityLost: {"error", "Lost Storage Connectivity",
		"Lost connectivity to storage device {1}. Path {2} is down. Affected datastores: {3}."},
	evConnectivityBack: {"info", "Restored connectivity to storage device",
		"Connectivity to storage device {1} (Datastores: {2}) restored. Path {3} is active again."},
	evAPDStart: {"warning", "All paths are down",
		"Device or filesystem with identifier {1} has entered the All Paths Down state."},
	evAPDTimeout: {"warning", "All Paths Down timed out, I/Os will be fast failed",
		"Device or filesystem with identifier {1} has entered the All Paths Down Timeout state after being in the All Paths Down state for {2} seconds. I/Os will now be fast failed."},
	evAPDExit: {"info", "Exited the All Paths Down state",
		"Device or filesystem with identifier {1} has exited the All Paths Down state."},
	evPDL: {"error", "Device has been removed or is permanently inaccessible.",
		"Device {1} has been removed or is permanently inaccessible. Affected datastores (if any): {2}."},
	evPDLOnline: {"info", "Device that was permanently inaccessible is now online.",
		"Device {1}, that was permanently inaccessible is now online. No data consistency guarantees."},
}

// esxClears: the problem events each clear event closes (for the same device, argument 1).
var esxClears = map[string][]string{
	evRedundancyRestored: {evRedundancyDegraded, evRedundancyLost},
	evConnectivityBack:   {evConnectivityLost},
	evAPDExit:            {evAPDStart, evAPDTimeout},
	evPDLOnline:          {evPDL},
}

// devView is what a host reports of one device, as far as its events are concerned.
type devView struct {
	state map[string]string // path name -> state (removed paths are gone)
	order []string
	up    int
	apd   int // apdPhase
	pdl   bool
	ds    string // the affected datastores argument
}

func (s *san) devView(h *host, l *lun, views []pathView) devView {
	v := devView{state: map[string]string{}, apd: h.apdPhase(l), pdl: l.state == lunPDL, ds: "Unknown"}
	for _, pv := range views {
		v.state[pv.p.name] = pv.state
		v.order = append(v.order, pv.p.name)
	}
	v.up = upPaths(views)
	if l.ds != nil {
		v.ds = "'" + l.ds.name + "'"
	}
	return v
}

// hostEvent is a storage event a host is about to post.
type hostEvent struct {
	id   string
	args []string
}

// storageEvents compares the view vCenter had of a host's devices with the current one. Caller holds
// s.mu; it updates the host's view.
func (s *san) storageEvents(h *host, now map[*lun]devView) []hostEvent {
	var out []hostEvent
	for _, l := range h.luns {
		cur, was := now[l], h.view[l]
		h.view[l] = cur
		if was.state == nil {
			continue // first view (the inventory's build)
		}
		dev := l.canonical
		if !was.pdl && cur.pdl {
			out = append(out, hostEvent{evPDL, []string{dev, cur.ds}})
		}
		var down, back []string
		for _, name := range cur.order {
			before, seen := was.state[name]
			if cur.state[name] == stateDead && (!seen || working(before)) {
				down = append(down, name)
			}
			if working(cur.state[name]) && (!seen || !working(before)) { // back, or found again
				back = append(back, name)
			}
		}
		if len(down) > 0 && cur.up < was.up {
			last := down[len(down)-1]
			switch {
			case cur.up == 0:
				out = append(out, hostEvent{evConnectivityLost, []string{dev, last, cur.ds}})
			case cur.up == 1:
				out = append(out, hostEvent{evRedundancyLost, []string{dev, last, cur.ds}})
			default:
				out = append(out, hostEvent{evRedundancyDegraded, []string{dev, last, cur.ds}})
			}
		}
		if len(back) > 0 && cur.up > was.up {
			if was.up == 0 {
				out = append(out, hostEvent{evConnectivityBack, []string{dev, cur.ds, back[0]}})
			}
			if cur.up == len(cur.order) && hasIssue(h, dev, evRedundancyDegraded, evRedundancyLost) {
				out = append(out, hostEvent{evRedundancyRestored, []string{dev, cur.ds, back[len(back)-1]}})
			}
		}
		if was.apd == 0 && cur.apd > 0 {
			out = append(out, hostEvent{evAPDStart, []string{dev}})
		}
		if was.apd < 2 && cur.apd == 2 {
			out = append(out, hostEvent{evAPDTimeout, []string{dev, itoa(h.apd[l].timeout)}})
		}
		if was.apd > 0 && cur.apd == 0 {
			out = append(out, hostEvent{evAPDExit, []string{dev}})
		}
		if was.pdl && !cur.pdl {
			out = append(out, hostEvent{evPDLOnline, []string{dev}})
		}
	}
	return out
}

func hasIssue(h *host, dev string, ids ...string) bool {
	for _, e := range h.issues {
		if ex, ok := e.(*types.EventEx); ok && contains(ids, ex.EventTypeId) && eventArg(ex, "1") == dev {
			return true
		}
	}
	return false
}

func eventArg(e *types.EventEx, key string) string {
	for _, a := range e.Arguments {
		if a.Key == key {
			if s, ok := a.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// esxEvent builds the EventEx vCenter shows for an event a host posted.
func esxEvent(h *host, ev hostEvent) *types.EventEx {
	info := esxEvents[ev.id]
	e := &types.EventEx{Event: vcEventArgs(h.inv.ref), EventTypeId: ev.id, Severity: info.category}
	msg := info.format
	for i, a := range ev.args {
		key := itoa(int64(i + 1))
		e.Arguments = append(e.Arguments, types.KeyAnyValue{Key: key, Value: a})
		msg = strings.ReplaceAll(msg, "{"+key+"}", a)
	}
	e.FullFormattedMessage = msg
	return e
}

// postHostEvents posts a host's events, keeps its configIssue (open problems) and raises the alarms
// they trigger. Called without s.mu.
func (l *Lab) postHostEvents(h *host, evs []hostEvent) {
	if len(evs) == 0 || vcReplaying {
		return
	}
	posted := make([]types.BaseEvent, 0, len(evs))
	for _, ev := range evs {
		posted = append(posted, esxEvent(h, ev))
	}
	vcPostEvents(vcHostEventContext(), posted...)
	l.san.mu.Lock()
	for _, p := range posted {
		e := p.(*types.EventEx)
		if closes, ok := esxClears[e.EventTypeId]; ok {
			var kept []types.BaseEvent
			for _, i := range h.issues {
				if x, ok := i.(*types.EventEx); !ok || !contains(closes, x.EventTypeId) || eventArg(x, "1") != eventArg(e, "1") {
					kept = append(kept, i)
				}
			}
			h.issues = kept
		} else if strings.HasPrefix(e.EventTypeId, "esx.problem.") {
			h.issues = append(h.issues, e)
		}
	}
	issues := append([]types.BaseEvent(nil), h.issues...)
	l.san.mu.Unlock()
	journalIssues(h, issues)
	publishIssues(h, issues)
	for _, p := range posted {
		vcAlarmEvent(h, p.(*types.EventEx))
	}
}

func publishIssues(h *host, issues []types.BaseEvent) {
	hs := h.inv.mo
	simulator.Map.WithLock(hs, func() {
		simulator.Map.Update(hs, []types.PropertyChange{{Name: "configIssue", Val: issues}})
	})
}

var hostEventCtx *simulator.Context

// vcHostEventContext: events a host posts carry no user.
func vcHostEventContext() *simulator.Context {
	if hostEventCtx == nil {
		hostEventCtx = newInternalContext()
		hostEventCtx.Session.UserName = ""
	}
	return hostEventCtx
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// vcInstallStorageEvents adds the esx.* events to vCenter's eventInfo, as vCenter lists an extended
// event: key EventEx (the key is a type name), fullFormat "<eventTypeId>|<format>" (clients read the
// category and the format there).
func vcInstallStorageEvents() {
	em := simulator.Map.EventManager()
	ids := make([]string, 0, len(esxEvents))
	for id := range esxEvents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	simulator.Map.WithLock(em, func() {
		for _, id := range ids {
			info := esxEvents[id]
			em.Description.EventInfo = append(em.Description.EventInfo, types.EventDescriptionEventDetail{
				Key: "EventEx", Description: info.description, Category: info.category, FullFormat: id + "|" + info.format,
			})
		}
	})
}

// configIssue is vCenter's: journaled whole per host (the event keys), given back after a restart.
//
//	{"t":"config_issue","host":"esx-a01","keys":[42,57]}
func journalIssues(h *host, issues []types.BaseEvent) {
	if vcJournal == nil {
		return
	}
	keys := make([]int32, 0, len(issues))
	for _, e := range issues {
		keys = append(keys, e.GetEvent().Key)
	}
	vcJournal.write("config_issue", map[string]interface{}{"host": h.name, "keys": keys})
}

func init() {
	vcInstallers = append(vcInstallers, vcInstallStorageEvents)
	registerJournalLatest("config_issue", func(e *journalEntry) string {
		var r struct {
			Host string `json:"host"`
		}
		_ = e.decode(&r)
		return r.Host
	}, func(l *Lab, e *journalEntry) error {
		var r struct {
			Host string  `json:"host"`
			Keys []int32 `json:"keys"`
		}
		if err := e.decode(&r); err != nil {
			return err
		}
		h, err := l.host(r.Host)
		if err != nil {
			return err
		}
		var issues []types.BaseEvent
		for _, k := range r.Keys {
			if ev := vcHistory.byKey(k); ev != nil {
				issues = append(issues, ev)
			}
		}
		l.san.mu.Lock()
		h.issues = issues
		l.san.mu.Unlock()
		publishIssues(h, issues)
		return nil
	})
}
