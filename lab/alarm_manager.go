package main

// AlarmManager and vCenter's default alarms that storage and connection faults trigger (0.24.2 has no
// AlarmManager: its moref in the ServiceContent answered ManagedObjectNotFound).
//   - GetAlarm(entity): the alarms defined on the entity, not inherited ones; unset: all. vCenter
//     defines its default alarms on the root folder.
//   - GetAlarmState(entity): the state of the alarms instantiated on the entity (green when not
//     triggered); AcknowledgeAlarm(alarm, entity) (Alarm.Acknowledge).
//   - ManagedEntity.triggeredAlarmState: the alarms triggered on the entity or its descendants (so
//     the cluster, folders, datacenter and root folder list a host's), declaredAlarmState of a host:
//     the alarms that apply to it, with their status; overallStatus: the worst triggered alarm.
//   - "Cannot connect to storage" (alarm.StorageConnectivityAlarm): event triggers on the host,
//     esx.problem.storage.connectivity.lost and NFS server disconnects red, path redundancy lost or
//     degraded yellow; it keeps no state (no clearing event): its status is that of the last event,
//     until an administrator resets it (the lab's restore does).
//   - "Host connection and power state" (alarm.HostConnectionStateAlarm): red while the host's
//     runtime.connectionState is notResponding (and it is powered on), green again when it answers.
// A status change posts an AlarmStatusChangedEvent. Triggered states are vCenter's: journaled.

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	alarmStorage    = "alarm.StorageConnectivityAlarm"
	alarmConnection = "alarm.HostConnectionStateAlarm"
)

type labAlarmManager struct {
	mo.AlarmManager
}

type labAlarm struct {
	mo.Alarm
}

// vcAlarmBook holds the alarms and their triggered states (entity -> alarm -> state).
type vcAlarmBook struct {
	mu      sync.Mutex
	alarms  []*labAlarm
	bySys   map[string]*labAlarm
	states  map[types.ManagedObjectReference]map[types.ManagedObjectReference]*types.AlarmState
	created time.Time
}

var vcAlarms = &vcAlarmBook{
	bySys:  map[string]*labAlarm{},
	states: map[types.ManagedObjectReference]map[types.ManagedObjectReference]*types.AlarmState{},
}

func eventTrigger(id string, status types.ManagedEntityStatus) types.BaseAlarmExpression {
	return &types.EventAlarmExpression{EventType: "EventEx", EventTypeId: id, ObjectType: "HostSystem", Status: status}
}

func vcInstallAlarms() {
	root := vcRootFolder()
	now := time.Now()
	vcAlarms.created = now
	specs := []types.AlarmSpec{{
		Name:        "Cannot connect to storage",
		SystemName:  alarmStorage,
		Description: "Default alarm to monitor host connectivity to storage device",
		Enabled:     true,
		Expression: &types.OrAlarmExpression{Expression: []types.BaseAlarmExpression{
			eventTrigger(evConnectivityLost, types.ManagedEntityStatusRed),
			eventTrigger(evRedundancyLost, types.ManagedEntityStatusYellow),
			eventTrigger(evRedundancyDegraded, types.ManagedEntityStatusYellow),
			eventTrigger("esx.problem.vmfs.nfs.server.disconnect", types.ManagedEntityStatusRed),
		}},
		Setting: &types.AlarmSetting{ToleranceRange: 0, ReportingFrequency: 300},
	}, {
		Name:        "Host connection and power state",
		SystemName:  alarmConnection,
		Description: "Default alarm to monitor host connection and power state",
		Enabled:     true,
		Expression: &types.AndAlarmExpression{Expression: []types.BaseAlarmExpression{
			&types.StateAlarmExpression{Operator: types.StateAlarmOperatorIsEqual, Type: "HostSystem",
				StatePath: "runtime.connectionState", Red: connNotResponding},
			&types.StateAlarmExpression{Operator: types.StateAlarmOperatorIsEqual, Type: "HostSystem",
				StatePath: "runtime.powerState", Red: "poweredOn"},
		}},
		Setting: &types.AlarmSetting{ToleranceRange: 0, ReportingFrequency: 300},
	}}
	for i, spec := range specs {
		a := &labAlarm{}
		a.Self = types.ManagedObjectReference{Type: "Alarm", Value: fmt.Sprintf("alarm-%d", i+1)}
		a.Info = types.AlarmInfo{AlarmSpec: spec, Key: a.Self.Value, Alarm: a.Self, Entity: root,
			LastModifiedTime: now, LastModifiedUser: "VSPHERE.LOCAL\\Administrator"}
		simulator.Map.Put(a)
		vcAlarms.alarms = append(vcAlarms.alarms, a)
		vcAlarms.bySys[spec.SystemName] = a
	}
	am := &labAlarmManager{}
	am.Self = types.ManagedObjectReference{Type: "AlarmManager", Value: "AlarmManager"}
	simulator.Map.Put(am)
}

func init() {
	vcInstallers = append(vcInstallers, vcInstallAlarms)
	registerJournalLatest("alarm_state", func(e *journalEntry) string {
		var r struct{ Entity, Alarm string }
		_ = e.decode(&r)
		return r.Entity + "/" + r.Alarm
	}, replayAlarmState)
}

// --- the SOAP methods -----------------------------------------------------------------------------

func (m *labAlarmManager) GetAlarm(ctx *simulator.Context, req *types.GetAlarm) soap.HasFault {
	var refs []types.ManagedObjectReference
	for _, a := range vcAlarms.alarms {
		if req.Entity == nil || *req.Entity == a.Info.Entity {
			refs = append(refs, a.Self)
		}
	}
	return &methods.GetAlarmBody{Res: &types.GetAlarmResponse{Returnval: refs}}
}

func (m *labAlarmManager) GetAlarmState(ctx *simulator.Context, req *types.GetAlarmState) soap.HasFault {
	if vcEntity(req.Entity) == nil {
		return &methods.GetAlarmStateBody{Fault_: simulator.Fault("", &types.ManagedObjectNotFound{Obj: req.Entity})}
	}
	return &methods.GetAlarmStateBody{Res: &types.GetAlarmStateResponse{Returnval: vcDeclaredAlarms(req.Entity)}}
}

func (m *labAlarmManager) AcknowledgeAlarm(ctx *simulator.Context, req *types.AcknowledgeAlarm) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "Alarm.Acknowledge", req.Entity); denied != nil {
		return denied
	}
	vcAlarms.mu.Lock()
	st := vcAlarms.states[req.Entity][req.Alarm]
	if st != nil && (st.Acknowledged == nil || !*st.Acknowledged) {
		now := time.Now()
		st.Acknowledged, st.AcknowledgedByUser, st.AcknowledgedTime = boolp(true), ctx.Session.UserName, &now
	}
	vcAlarms.mu.Unlock()
	if st == nil {
		return &methods.AcknowledgeAlarmBody{Fault_: simulator.Fault("", &types.InvalidArgument{InvalidProperty: "alarm"})}
	}
	vcPublishAlarms(req.Entity)
	return &methods.AcknowledgeAlarmBody{Res: &types.AcknowledgeAlarmResponse{}}
}

// --- states ---------------------------------------------------------------------------------------

// vcDeclaredAlarms: every alarm that applies to the entity (host alarms on a host), with its state.
func vcDeclaredAlarms(entity types.ManagedObjectReference) []types.AlarmState {
	if entity.Type != "HostSystem" {
		return vcTriggered(entity)
	}
	vcAlarms.mu.Lock()
	defer vcAlarms.mu.Unlock()
	var out []types.AlarmState
	for _, a := range vcAlarms.alarms {
		if st := vcAlarms.states[entity][a.Self]; st != nil {
			out = append(out, *st)
			continue
		}
		out = append(out, types.AlarmState{Key: a.Self.Value + "." + entity.Value, Entity: entity, Alarm: a.Self,
			OverallStatus: types.ManagedEntityStatusGreen, Time: vcAlarms.created, Acknowledged: boolp(false)})
	}
	return out
}

// vcTriggered: the alarms triggered on the entity or its descendants.
func vcTriggered(entity types.ManagedObjectReference) []types.AlarmState {
	vcAlarms.mu.Lock()
	defer vcAlarms.mu.Unlock()
	var out []types.AlarmState
	for on, states := range vcAlarms.states {
		if on != entity && !vcDescends(on, entity) {
			continue
		}
		for _, st := range states {
			out = append(out, *st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func vcDescends(ref, ancestor types.ManagedObjectReference) bool {
	for i := 0; i < 64; i++ {
		e := vcEntity(ref)
		if e == nil || e.Entity().Parent == nil {
			return false
		}
		ref = *e.Entity().Parent
		if ref == ancestor {
			return true
		}
	}
	return false
}

// vcAlarmStatus: the worst triggered alarm on the entity (green if none).
func vcAlarmStatus(entity types.ManagedObjectReference) types.ManagedEntityStatus {
	vcAlarms.mu.Lock()
	defer vcAlarms.mu.Unlock()
	status := types.ManagedEntityStatusGreen
	for _, st := range vcAlarms.states[entity] {
		if st.OverallStatus == types.ManagedEntityStatusRed ||
			(st.OverallStatus == types.ManagedEntityStatusYellow && status == types.ManagedEntityStatusGreen) {
			status = st.OverallStatus
		}
	}
	return status
}

// vcSetAlarm sets the status of an alarm on an entity (green clears it) and tells whether it changed
// and from what.
func vcSetAlarm(a *labAlarm, entity types.ManagedObjectReference, status types.ManagedEntityStatus, eventKey int32, at time.Time) (types.ManagedEntityStatus, bool) {
	vcAlarms.mu.Lock()
	defer vcAlarms.mu.Unlock()
	states := vcAlarms.states[entity]
	from := types.ManagedEntityStatusGreen
	if st := states[a.Self]; st != nil {
		from = st.OverallStatus
	}
	if status == types.ManagedEntityStatusGreen {
		if states != nil {
			delete(states, a.Self)
		}
		return from, from != status
	}
	if states == nil {
		states = map[types.ManagedObjectReference]*types.AlarmState{}
		vcAlarms.states[entity] = states
	}
	st := states[a.Self]
	if st == nil || from != status {
		st = &types.AlarmState{Key: a.Self.Value + "." + entity.Value, Entity: entity, Alarm: a.Self, Acknowledged: boolp(false)}
		states[a.Self] = st
	}
	st.OverallStatus, st.Time, st.EventKey = status, at, eventKey
	return from, from != status
}

// vcAlarmEvent evaluates the event alarms against an event a host posted.
func vcAlarmEvent(h *host, e *types.EventEx) {
	for _, a := range vcAlarms.alarms {
		or, ok := a.Info.Expression.(*types.OrAlarmExpression)
		if !ok {
			continue
		}
		for _, x := range or.Expression {
			t, ok := x.(*types.EventAlarmExpression)
			if !ok || t.EventTypeId != e.EventTypeId {
				continue
			}
			vcAlarmChange(h, a, t.Status, e.Key)
		}
	}
}

// vcAlarmHostConnection evaluates "Host connection and power state" for a host's connection state.
func vcAlarmHostConnection(h *host, state string) {
	a := vcAlarms.bySys[alarmConnection]
	if a == nil {
		return
	}
	status := types.ManagedEntityStatusGreen
	if state == connNotResponding {
		status = types.ManagedEntityStatusRed
	}
	vcAlarmChange(h, a, status, 0)
}

func vcAlarmChange(h *host, a *labAlarm, status types.ManagedEntityStatus, eventKey int32) {
	if vcReplaying {
		return // the journal holds the states
	}
	ref := h.inv.ref
	from, changed := vcSetAlarm(a, ref, status, eventKey, time.Now())
	if !changed && status == types.ManagedEntityStatusGreen {
		return // was not triggered, is not
	}
	journalAlarmState(a, ref)
	if !changed {
		vcPublishAlarmsOf(ref) // the same status, a new event: the host's state only
		return
	}
	vcPublishAlarms(ref)
	publishHostStatus(h)
	args := vcEventArgs(ref)
	ev := &types.AlarmStatusChangedEvent{
		AlarmEvent: types.AlarmEvent{Event: args, Alarm: types.AlarmEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: a.Info.Name}, Alarm: a.Self}},
		Source: types.ManagedEntityEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(a.Info.Entity)}, Entity: a.Info.Entity},
		Entity: types.ManagedEntityEventArgument{EntityEventArgument: types.EntityEventArgument{Name: h.name}, Entity: ref},
		From:   string(from), To: string(status),
	}
	ev.FullFormattedMessage = fmt.Sprintf("Alarm '%s' on %s changed from %s to %s", a.Info.Name, h.name, title(string(from)), title(string(status)))
	vcPostEvents(vcHostEventContext(), ev)
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// vcPublishAlarms publishes triggeredAlarmState of the entity and its ancestors, and declaredAlarmState
// of a host.
func vcPublishAlarms(entity types.ManagedObjectReference) {
	ref := entity
	for i := 0; i < 64; i++ {
		e := vcEntity(ref)
		if e == nil {
			return
		}
		vcPublishAlarmsOf(ref)
		if e.Entity().Parent == nil {
			return
		}
		ref = *e.Entity().Parent
	}
}

// vcPublishAlarmsOf publishes the entity's own triggeredAlarmState and declaredAlarmState.
func vcPublishAlarmsOf(ref types.ManagedObjectReference) {
	e := vcEntity(ref)
	if e == nil {
		return
	}
	obj := e.(mo.Reference)
	changes := []types.PropertyChange{{Name: "triggeredAlarmState", Val: vcTriggered(ref)}}
	if ref.Type == "HostSystem" {
		changes = append(changes, types.PropertyChange{Name: "declaredAlarmState", Val: vcDeclaredAlarms(ref)})
	}
	simulator.Map.WithLock(obj, func() { simulator.Map.Update(obj, changes) })
}

// vcResetAlarms: every triggered alarm back to green (an administrator's reset; the lab's restore).
func vcResetAlarms() {
	vcAlarms.mu.Lock()
	var entities []types.ManagedObjectReference
	for e := range vcAlarms.states {
		entities = append(entities, e)
	}
	vcAlarms.states = map[types.ManagedObjectReference]map[types.ManagedObjectReference]*types.AlarmState{}
	vcAlarms.mu.Unlock()
	for _, e := range entities {
		vcJournal.write("alarm_state", map[string]interface{}{"entity": e.Value, "alarm": "", "reset": true})
		vcPublishAlarms(e)
	}
	for _, h := range labHostsByRef(entities) {
		publishHostStatus(h)
	}
}

var vcLab *Lab // set when the lab installs its objects: alarm code finds hosts by moref

func labHostsByRef(refs []types.ManagedObjectReference) []*host {
	var out []*host
	if vcLab == nil {
		return out
	}
	for _, h := range vcLab.san.hosts {
		for _, r := range refs {
			if h.inv.ref == r {
				out = append(out, h)
			}
		}
	}
	return out
}

// --- the journal ------------------------------------------------------------------------------------
//
//	{"t":"alarm_state","entity":"host-21","alarm":"alarm-1","status":"red","event":42,"time":"..."}
//	{"t":"alarm_state","entity":"host-21","alarm":"","reset":true}    every alarm of the entity reset

func journalAlarmState(a *labAlarm, entity types.ManagedObjectReference) {
	if vcJournal == nil {
		return
	}
	vcAlarms.mu.Lock()
	st := vcAlarms.states[entity][a.Self]
	rec := map[string]interface{}{"entity": entity.Value, "alarm": a.Self.Value, "status": "green"}
	if st != nil {
		rec["status"], rec["event"], rec["time"] = string(st.OverallStatus), st.EventKey, st.Time.UTC().Format(time.RFC3339Nano)
	}
	vcAlarms.mu.Unlock()
	vcJournal.write("alarm_state", rec)
}

func replayAlarmState(l *Lab, e *journalEntry) error {
	var r struct {
		Entity string `json:"entity"`
		Alarm  string `json:"alarm"`
		Status string `json:"status"`
		Event  int32  `json:"event"`
		Time   string `json:"time"`
		Reset  bool   `json:"reset"`
	}
	if err := e.decode(&r); err != nil {
		return err
	}
	var h *host
	for _, x := range l.san.hosts {
		if x.inv.ref.Value == r.Entity {
			h = x
		}
	}
	if h == nil {
		return fmt.Errorf("unknown host %s", r.Entity)
	}
	if r.Reset {
		vcAlarms.mu.Lock()
		delete(vcAlarms.states, h.inv.ref)
		vcAlarms.mu.Unlock()
	} else {
		var a *labAlarm
		for _, x := range vcAlarms.alarms {
			if x.Self.Value == r.Alarm {
				a = x
			}
		}
		if a == nil {
			return fmt.Errorf("unknown alarm %s", r.Alarm)
		}
		at, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			at = time.Now()
		}
		vcSetAlarm(a, h.inv.ref, types.ManagedEntityStatus(r.Status), r.Event, at)
	}
	vcPublishAlarms(h.inv.ref)
	publishHostStatus(h)
	return nil
}
