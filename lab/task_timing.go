package main

// Task timing: on vCenter a reconfigure or a migration is a task that takes time and waits its
// turn; the simulator finishes every task inside the SOAP call.
//
// With timing on (the lab binary's default; --timing=false or POST /v1/timing {"enabled": false}
// for fast test runs):
//   - ReconfigVM_Task (extraConfig) is queued, then running for reconfigure_ms with info.progress
//     rising, then applied (virtual_machine.go); MigrateVM_Task and RelocateVM_Task run for
//     vmotion_ms (a host move) or svmotion_ms (a storage move), then move the VM
//     (task_manager.go);
//   - each waits in state "queued" until vCenter's resource manager admits it
//     (resource_manager.go: per-host, per-vMotion-NIC and per-datastore costs, vCenter's
//     concurrency limit, one task at a time per VM).
// The default durations are those of a small VM on a healthy system (a 4 GB vMotion over 25 GbE
// in a few seconds; Storage vMotion of tens of GB at hundreds of MB/s); the limits are vCenter's
// documented ones (resource_manager.go names the sources). The control API's task modes (slow,
// hang, fail) still decide how a migration ends; timing adds the queue in front of them.
//
//	GET  /v1/timing   -> {"enabled": true, "reconfigure_ms": 1000, ..., "queued": 0, "running": 0}
//	POST /v1/timing   {"enabled": false} or any of the fields below (strictly checked)
//
// A vMotion from a host that lost every path to one of the VM's datastores (APD on that host):
// the storage guide says VMs stay responsive during an APD and can be migrated; whether vMotion
// from the APD host succeeds is not documented. POST /v1/vmotion {"from_host_without_paths":
// "succeed"|"fail"} selects it ("succeed" by default; "fail" ends such vMotions in error when they
// switch over).
//
// Both are journaled (a restarted lab keeps them) and POST /v1/restore sets them back to the
// values the lab started with.
//
//	{"t":"timing","timing":{...}}   {"t":"vmotion_policy","from_host_without_paths":"fail"}

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type vcTiming struct {
	Enabled       bool `json:"enabled"`
	ReconfigureMS int  `json:"reconfigure_ms"`
	VMotionMS     int  `json:"vmotion_ms"`
	SVMotionMS    int  `json:"svmotion_ms"`
	vcLimits
}

// vcDefaultTiming is the lab binary's default (the flags start from it).
var vcDefaultTiming = vcTiming{Enabled: true, ReconfigureMS: 1000, VMotionMS: 6000, SVMotionMS: 20000, vcLimits: vcDefaultLimits}

const (
	vcPathlessSucceed = "succeed"
	vcPathlessFail    = "fail"
)

var vcTimingState = struct {
	sync.Mutex
	timing   vcTiming
	start    vcTiming // what the lab started with: POST /v1/restore goes back to it
	pathless string   // POST /v1/vmotion: from_host_without_paths
}{timing: vcDefaultTiming, start: vcDefaultTiming, pathless: vcPathlessSucceed}

// vcSetStartTiming is the timing of the flags (main.go).
func vcSetStartTiming(t vcTiming) {
	vcTimingState.Lock()
	vcTimingState.timing, vcTimingState.start = t, t
	vcTimingState.Unlock()
}

func vcCurrentTiming() vcTiming {
	vcTimingState.Lock()
	defer vcTimingState.Unlock()
	return vcTimingState.timing
}

func vcPathlessVMotion() string {
	vcTimingState.Lock()
	defer vcTimingState.Unlock()
	return vcTimingState.pathless
}

// vcRestoreTiming sets timing and the vMotion policy back to the start (POST /v1/restore).
func vcRestoreTiming() {
	vcTimingState.Lock()
	vcTimingState.timing, vcTimingState.pathless = vcTimingState.start, vcPathlessSucceed
	vcTimingState.Unlock()
	vcResourcesChanged()
}

func (t vcTiming) duration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }

func (t vcTiming) validate() error {
	for name, v := range map[string]int{"reconfigure_ms": t.ReconfigureMS, "vmotion_ms": t.VMotionMS, "svmotion_ms": t.SVMotionMS} {
		if v < 0 || v > vcMaxTaskDurationMS {
			return badRequest("'%s' must be between 0 and %d", name, vcMaxTaskDurationMS)
		}
	}
	return t.vcLimits.validate()
}

// vcParseTiming applies a POST /v1/timing body to t, strictly: known fields, right types.
func vcParseTiming(t vcTiming, body map[string]interface{}) (vcTiming, error) {
	ints := map[string]*int{
		"reconfigure_ms": &t.ReconfigureMS, "vmotion_ms": &t.VMotionMS, "svmotion_ms": &t.SVMotionMS,
		"max_concurrent_operations": &t.MaxOperations, "host_max_cost": &t.HostMaxCost,
		"network_max_cost": &t.NetworkMaxCost, "datastore_max_cost": &t.DatastoreMaxCost,
	}
	if len(body) == 0 {
		return t, badRequest("empty body: give 'enabled' or a duration or limit to change")
	}
	for k, v := range body {
		if k == "enabled" {
			b, ok := v.(bool)
			if !ok {
				return t, badRequest("'enabled' must be true or false")
			}
			t.Enabled = b
			continue
		}
		p, ok := ints[k]
		if !ok {
			return t, badRequest("unknown field '%s': the body has enabled, reconfigure_ms, vmotion_ms, svmotion_ms, "+
				"max_concurrent_operations, host_max_cost, network_max_cost, datastore_max_cost", k)
		}
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return t, badRequest("'%s' must be an integer", k)
		}
		*p = int(f)
	}
	return t, t.validate()
}

func vcTimingStatus() map[string]interface{} {
	t := vcCurrentTiming()
	out := map[string]interface{}{}
	b, _ := json.Marshal(t)
	_ = json.Unmarshal(b, &out)
	queued, running := vcResourceStatus()
	out["queued"], out["running"] = queued, running
	return out
}

func init() {
	registerJournal("timing", func(l *Lab, e *journalEntry) error {
		var r struct {
			Timing vcTiming `json:"timing"`
		}
		if err := e.decode(&r); err != nil {
			return err
		}
		if err := r.Timing.validate(); err != nil {
			return err
		}
		vcTimingState.Lock()
		vcTimingState.timing = r.Timing
		vcTimingState.Unlock()
		return nil
	})
	registerJournal("vmotion_policy", func(l *Lab, e *journalEntry) error {
		var r struct {
			Policy string `json:"from_host_without_paths"`
		}
		if err := e.decode(&r); err != nil {
			return err
		}
		return vcSetPathlessVMotion(r.Policy)
	})
}

func vcSetPathlessVMotion(policy string) error {
	if policy != vcPathlessSucceed && policy != vcPathlessFail {
		return badRequest("'from_host_without_paths' must be 'succeed' or 'fail'")
	}
	vcTimingState.Lock()
	vcTimingState.pathless = policy
	vcTimingState.Unlock()
	return nil
}

func (l *Lab) handleTiming(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, vcTimingStatus())
	case http.MethodPost:
		body, err := readJSONBody(r)
		if err != nil {
			writeError(w, err)
			return
		}
		l.ctlMu.Lock()
		t, err := vcParseTiming(vcCurrentTiming(), body)
		if err == nil {
			vcTimingState.Lock()
			vcTimingState.timing = t
			vcTimingState.Unlock()
			vcResourcesChanged() // new limits may admit queued tasks
			vcJournal.write("timing", map[string]interface{}{"timing": t})
		}
		l.ctlMu.Unlock()
		if err != nil {
			writeError(w, err)
			return
		}
		out := vcTimingStatus()
		out["ok"] = true
		writeJSON(w, http.StatusOK, out)
	default:
		writeError(w, &apiError{http.StatusMethodNotAllowed, "use GET or POST"})
	}
}

func (l *Lab) handleVMotionPolicy(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]interface{}{"from_host_without_paths": vcPathlessVMotion()})
	case http.MethodPost:
		body, err := readJSONBody(r)
		if err != nil {
			writeError(w, err)
			return
		}
		policy, ok := body["from_host_without_paths"].(string)
		if len(body) != 1 || !ok {
			writeError(w, badRequest("the body is {\"from_host_without_paths\": \"succeed\" or \"fail\"}"))
			return
		}
		l.ctlMu.Lock()
		err = vcSetPathlessVMotion(policy)
		if err == nil {
			vcJournal.write("vmotion_policy", map[string]interface{}{"from_host_without_paths": policy})
		}
		l.ctlMu.Unlock()
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]interface{}{"ok": true, "from_host_without_paths": policy})
	default:
		writeError(w, &apiError{http.StatusMethodNotAllowed, "use GET or POST"})
	}
}

// --- running tasks the timing way ------------------------------------------------------------

// vcQueueTask: the task waits for vCenter's resource manager (info.state queued).
func vcQueueTask(task *simulator.Task, cancelable bool) {
	simulator.Map.WithLock(task, func() {
		simulator.Map.Update(task, []types.PropertyChange{
			{Name: "info.state", Val: types.TaskInfoStateQueued},
			{Name: "info.cancelable", Val: cancelable},
		})
	})
}

// vcStartRunning: the task runs from now (info.startTime, state running, progress 0).
func vcStartRunning(task *simulator.Task, cancelable bool) {
	simulator.Map.WithLock(task, func() {
		simulator.Map.Update(task, []types.PropertyChange{
			{Name: "info.startTime", Val: time.Now()},
			{Name: "info.state", Val: types.TaskInfoStateRunning},
			{Name: "info.cancelable", Val: cancelable},
			{Name: "info.progress", Val: int32(0)},
		})
	})
}

// vcRunFor lets a running task's progress rise to 100 over d; false when canceled first.
func vcRunFor(task *simulator.Task, cancel <-chan struct{}, d time.Duration) bool {
	step := d / 20
	if step < 50*time.Millisecond {
		step = 50 * time.Millisecond
	}
	if step > time.Second {
		step = time.Second
	}
	start := time.Now()
	for {
		left := d - time.Since(start)
		if left <= 0 {
			return true
		}
		if left > step {
			left = step
		}
		if !vcSleep(cancel, left) {
			return false
		}
		if p := int32(time.Since(start) * 100 / d); p < 100 {
			vcSetProgress(task, p)
		}
	}
}

// vcStartTimedTask runs a task that cannot be canceled (a reconfigure) the way timing says:
// queued until vCenter's resource manager admits cost, running for d, then finish (under the VM's
// lock) decides how it ends.
func vcStartTimedTask(vm *simulator.VirtualMachine, task *simulator.Task, cost vcCost, d time.Duration,
	finish func() types.BaseMethodFault) types.ManagedObjectReference {
	vcQueueTask(task, false)
	go func() {
		never := make(chan struct{})
		vcAcquire(cost, never)
		defer vcRelease(cost)
		vcStartRunning(task, false)
		vcRunFor(task, never, d)
		var fault types.BaseMethodFault
		simulator.Map.WithLock(vm, func() { fault = finish() })
		if fault == nil {
			vcSetProgress(task, 100)
		}
		vcFinishTask(task, fault, "", false)
	}()
	return task.Self
}
