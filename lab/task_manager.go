package main

// Slow, stuck and failing migrations, and CancelTask.
//
// On vCenter a vMotion or Storage vMotion is a task that runs for a while: info.state "running",
// info.progress rising from 0 to 100, info.cancelable true. The move takes effect only when it
// completes: a vMotion that fails or is canceled half-way (or whose vCenter dies meanwhile) leaves
// the VM on its source host and datastores. vCenter refuses a second migration of a VM while one
// runs (TaskInProgress). The simulator's tasks are synchronous (done before the method returns) and
// it has no CancelTask (MethodNotFound). The control API's task mode (POST /v1/tasks) makes the
// MigrateVM_Task and RelocateVM_Task started after it behave like such a vMotion:
//   - normal: as virtual_machine_migrate.go, done when the call returns;
//   - slow:   running for duration_ms with info.progress rising, then the move (checked again, as
//             vCenter's final switch-over would fail on a target that became unusable meanwhile);
//   - hang:   running forever, progress stuck at 42, until CancelTask;
//   - fail:   after duration_ms, state error with a vMotion failure (GenericVmConfigFault, the fault
//             vCenter reports when the destination fails to resume); the VM stays put.
// vCenter's checks that do not need the move to run (power state, host state, datastores) fail the
// task at once in every mode. With task timing on (task_timing.go) a migration first waits, queued,
// for vCenter's resource manager (resource_manager.go); in mode normal it then runs vmotion_ms or
// svmotion_ms, like slow.
//
// CancelTask (Global.CancelTask): a running cancelable task ends in state error with
// RequestCanceled ("The task was canceled by a user."), info.cancelled true, the VM where it was;
// a task already completed is InvalidState, a running one that cannot be canceled NotSupported.

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// The task mode is a lab condition, like a fault: journaled, it survives a restart of the lab's
// vCenter.
//
//	{"t":"task_mode","mode":"slow","duration_ms":2000,"message":""}   POST /v1/tasks
func init() {
	vcCallFixes["CancelTask"] = vcHandleCancelTask
	registerJournal("task_mode", func(l *Lab, e *journalEntry) error {
		var m vcTaskMode
		if err := e.decode(&m); err != nil {
			return err
		}
		return vcSetTaskMode(m)
	})
}

const (
	vcTaskNormal = "normal"
	vcTaskSlow   = "slow"
	vcTaskHang   = "hang"
	vcTaskFail   = "fail"

	vcMaxTaskDurationMS = 600000
	vcHangProgress      = 42
	vcDefaultFailure    = "A general system error occurred: Migration failed: the source detected that the destination failed to resume."
	vcCanceledMessage   = "The task was canceled by a user."
)

type vcTaskMode struct {
	Mode       string `json:"mode"`
	DurationMS int    `json:"duration_ms"`
	Message    string `json:"message"`
}

var vcTasks = struct {
	sync.Mutex
	mode    vcTaskMode
	running map[types.ManagedObjectReference]*vcAsyncTask                 // task -> in flight
	busy    map[types.ManagedObjectReference]types.ManagedObjectReference // VM -> its migration task
}{
	mode:    vcTaskMode{Mode: vcTaskNormal},
	running: map[types.ManagedObjectReference]*vcAsyncTask{},
	busy:    map[types.ManagedObjectReference]types.ManagedObjectReference{},
}

func (m vcTaskMode) validate() error {
	switch m.Mode {
	case vcTaskNormal, vcTaskHang:
		if m.DurationMS != 0 {
			return badRequest("'duration_ms' does not apply to mode %s", m.Mode)
		}
	case vcTaskSlow, vcTaskFail:
	default:
		return badRequest("unknown mode '%s': one of normal, slow, hang, fail", m.Mode)
	}
	if m.DurationMS < 0 || m.DurationMS > vcMaxTaskDurationMS {
		return badRequest("'duration_ms' must be between 0 and %d", vcMaxTaskDurationMS)
	}
	if m.Message != "" && m.Mode != vcTaskFail {
		return badRequest("'message' applies to mode fail only")
	}
	return nil
}

func vcSetTaskMode(m vcTaskMode) error {
	if err := m.validate(); err != nil {
		return err
	}
	vcTasks.Lock()
	vcTasks.mode = m
	vcTasks.Unlock()
	return nil
}

func vcCurrentTaskMode() vcTaskMode {
	vcTasks.Lock()
	defer vcTasks.Unlock()
	return vcTasks.mode
}

// vcTaskStatus is GET /v1/tasks: the mode and the migrations in flight.
func vcTaskStatus() map[string]interface{} {
	vcTasks.Lock()
	defer vcTasks.Unlock()
	m := vcTasks.mode
	running := make([]string, 0, len(vcTasks.running))
	for ref := range vcTasks.running {
		running = append(running, ref.Value)
	}
	out := map[string]interface{}{"mode": m.Mode, "duration_ms": m.DurationMS, "running": running}
	if m.Mode == vcTaskFail {
		msg := m.Message
		if msg == "" {
			msg = vcDefaultFailure
		}
		out["message"] = msg
	}
	return out
}

// --- a migration as a task ---------------------------------------------------------------------

// vcMove is a migration's two halves: check (vCenter's compatibility checks) and apply (the move).
// Both run with the VM's lock held. cost is what it holds in vCenter's resource manager while it
// runs, storage whether files move (the duration of a Storage vMotion: task_timing.go).
type vcMove struct {
	check   func() *vcMoveFault
	apply   func()
	cost    vcCost
	storage bool
}

type vcAsyncTask struct {
	task   *simulator.Task
	vm     types.ManagedObjectReference
	cancel chan struct{}
	once   sync.Once
}

// vcStartMove runs a migration task in the current task mode and returns the task. The caller
// holds the VM's lock.
func vcStartMove(vm *simulator.VirtualMachine, task *simulator.Task, mv vcMove) types.ManagedObjectReference {
	vcTasks.Lock()
	mode := vcTasks.mode
	other, busy := vcTasks.busy[vm.Self]
	vcTasks.Unlock()

	if busy {
		task.Execute = func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return nil, &types.TaskInProgress{Task: other}
		}
		refusal := &vcMoveFault{&types.TaskInProgress{Task: other}, "Another task is already in progress."}
		return vcRunTask(task, &refusal)
	}
	timing := vcCurrentTiming()
	if mode.Mode == vcTaskNormal && !timing.Enabled {
		var refusal *vcMoveFault
		task.Execute = func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
			if refusal = mv.check(); refusal != nil {
				return nil, refusal.fault
			}
			mv.apply()
			return nil, nil
		}
		return vcRunTask(task, &refusal)
	}

	// Asynchronous: queued (with timing) or running now, completed by a goroutine.
	if timing.Enabled {
		vcQueueTask(task, true)
	} else {
		vcStartRunning(task, true)
	}
	if r := mv.check(); r != nil {
		vcFinishTask(task, r.fault, r.msg, false)
		return task.Self
	}
	at := &vcAsyncTask{task: task, vm: vm.Self, cancel: make(chan struct{})}
	vcTasks.Lock()
	vcTasks.running[task.Self] = at
	vcTasks.busy[vm.Self] = task.Self
	vcTasks.Unlock()

	go vcRunAsync(vm, at, mode, mv, timing)
	return task.Self
}

// vcRunAsync completes an asynchronous migration. mv's closures keep the call's context (its
// Caller is the VM, whose lock they expect held): the goroutine takes that lock for them.
func vcRunAsync(vm *simulator.VirtualMachine, at *vcAsyncTask, mode vcTaskMode, mv vcMove, timing vcTiming) {
	task := at.task
	defer func() {
		vcTasks.Lock()
		delete(vcTasks.running, task.Self)
		if vcTasks.busy[at.vm] == task.Self {
			delete(vcTasks.busy, at.vm)
		}
		vcTasks.Unlock()
	}()
	canceled := func() {
		vcFinishTask(task, &types.RequestCanceled{}, vcCanceledMessage, true)
	}
	duration := time.Duration(mode.DurationMS) * time.Millisecond
	if timing.Enabled {
		if !vcAcquire(mv.cost, at.cancel) {
			canceled()
			return
		}
		defer vcRelease(mv.cost)
		vcStartRunning(task, true)
		if mode.Mode == vcTaskNormal {
			duration = timing.duration(timing.VMotionMS)
			if mv.storage {
				duration = timing.duration(timing.SVMotionMS)
			}
		}
	}

	switch mode.Mode {
	case vcTaskHang:
		vcSetProgress(task, vcHangProgress)
		<-at.cancel
		canceled()
		return

	case vcTaskFail:
		if !vcSleep(at.cancel, duration) {
			canceled()
			return
		}
		msg := mode.Message
		if msg == "" {
			msg = vcDefaultFailure
		}
		vcFinishTask(task, &types.GenericVmConfigFault{Reason: msg}, msg, false)
		return

	case vcTaskSlow, vcTaskNormal: // normal: with timing on
		if !vcRunFor(task, at.cancel, duration) {
			canceled()
			return
		}
	}

	// complete: the final checks and the switch-over, under the VM's lock as a synchronous move
	var refusal *vcMoveFault
	select {
	case <-at.cancel:
		canceled()
		return
	default:
	}
	simulator.Map.WithLock(vm, func() {
		if refusal = mv.check(); refusal == nil {
			mv.apply()
		}
	})
	if refusal != nil {
		vcFinishTask(task, refusal.fault, refusal.msg, false)
		return
	}
	vcSetProgress(task, 100)
	vcFinishTask(task, nil, "", false)
}

// vcSleep waits d, false when canceled first.
func vcSleep(cancel <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-cancel:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-cancel:
		return false
	case <-t.C:
		return true
	}
}

func vcSetProgress(task *simulator.Task, p int32) {
	simulator.Map.WithLock(task, func() {
		simulator.Map.Update(task, []types.PropertyChange{{Name: "info.progress", Val: p}})
	})
}

// vcFinishTask completes a task: success (fault nil) or error with vCenter's message.
func vcFinishTask(task *simulator.Task, fault types.BaseMethodFault, msg string, cancelled bool) {
	state := types.TaskInfoStateSuccess
	var lmf interface{}
	if fault != nil {
		state = types.TaskInfoStateError
		if msg == "" {
			msg = fmt.Sprintf("%T", fault)
		}
		lmf = types.LocalizedMethodFault{Fault: fault, LocalizedMessage: msg}
	}
	changes := []types.PropertyChange{
		{Name: "info.completeTime", Val: time.Now()},
		{Name: "info.state", Val: state},
		{Name: "info.error", Val: lmf},
	}
	if cancelled {
		changes = append(changes, types.PropertyChange{Name: "info.cancelled", Val: true})
	}
	simulator.Map.WithLock(task, func() { simulator.Map.Update(task, changes) })
}

// --- CancelTask ----------------------------------------------------------------------------------

func vcHandleCancelTask(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.CancelTask)
	task, ok := simulator.Map.Get(req.This).(*simulator.Task)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This},
			fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", req.This))
	}
	obj := req.This
	if task.Info.Entity != nil {
		obj = *task.Info.Entity
	}
	if denied := vcCheckPrivilege(ctx, "Global.CancelTask", obj); denied != nil {
		return denied
	}
	vcTasks.Lock()
	at := vcTasks.running[req.This]
	vcTasks.Unlock()
	if at == nil {
		var state types.TaskInfoState
		simulator.Map.WithLock(task, func() { state = task.Info.State })
		if state == types.TaskInfoStateSuccess || state == types.TaskInfoStateError {
			return vcFault(&types.InvalidState{}, "The operation is not allowed in the current state.")
		}
		return vcFault(&types.NotSupported{}, "The operation is not supported on the object.")
	}
	at.once.Do(func() { close(at.cancel) })
	vcResourcesChanged() // a queued task waits on the resource manager
	return &methods.CancelTaskBody{Res: &types.CancelTaskResponse{}}
}

// vcCancelAll cancels every migration the task mode holds (POST /v1/restore: the lab back to its
// initial state, no task of an earlier test left running) and waits until they ended.
func vcCancelAll() {
	vcTasks.Lock()
	for _, at := range vcTasks.running {
		at.once.Do(func() { close(at.cancel) })
	}
	vcTasks.Unlock()
	vcResourcesChanged()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		vcTasks.Lock()
		n := len(vcTasks.running)
		vcTasks.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// --- control API: /v1/tasks ---------------------------------------------------------------------

// vcParseTaskMode reads the POST /v1/tasks body strictly: known fields only, typed, in range.
func vcParseTaskMode(body map[string]interface{}) (vcTaskMode, error) {
	var m vcTaskMode
	for k, v := range body {
		switch k {
		case "mode":
			s, ok := v.(string)
			if !ok {
				return m, badRequest("'mode' must be a string: one of normal, slow, hang, fail")
			}
			m.Mode = s
		case "duration_ms":
			f, ok := v.(float64)
			if !ok || f != float64(int64(f)) {
				return m, badRequest("'duration_ms' must be an integer number of milliseconds")
			}
			if f < 0 || f > vcMaxTaskDurationMS {
				return m, badRequest("'duration_ms' must be between 0 and %d", vcMaxTaskDurationMS)
			}
			m.DurationMS = int(f)
		case "message":
			s, ok := v.(string)
			if !ok {
				return m, badRequest("'message' must be a string")
			}
			m.Message = s
		default:
			return m, badRequest("unknown field '%s': the body has mode, duration_ms, message", k)
		}
	}
	if m.Mode == "" {
		return m, badRequest("missing 'mode': one of normal, slow, hang, fail")
	}
	return m, m.validate()
}

func (l *Lab) handleTasks(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, vcTaskStatus())
	case http.MethodPost:
		body, err := readJSONBody(r)
		if err != nil {
			writeError(w, err)
			return
		}
		m, err := vcParseTaskMode(body)
		if err != nil {
			writeError(w, err)
			return
		}
		l.ctlMu.Lock()
		err = vcSetTaskMode(m)
		if err == nil {
			vcJournal.write("task_mode", map[string]interface{}{"mode": m.Mode, "duration_ms": m.DurationMS, "message": m.Message})
		}
		l.ctlMu.Unlock()
		if err != nil {
			writeError(w, err)
			return
		}
		out := vcTaskStatus()
		out["ok"] = true
		writeJSON(w, http.StatusOK, out)
	default:
		writeError(w, &apiError{http.StatusMethodNotAllowed, "use GET or POST"})
	}
}

// vcSetTaskInfo gives a task the name and description id vCenter uses (the simulator derives
// its own from the Go method name), the entity's display name, and who started it: vCenter sets
// info.reason to a TaskReasonUser naming the session's user (the simulator writes "vcsim" for
// everyone), which is how a client finds the tasks it started in TaskManager.recentTask.
func vcSetTaskInfo(ctx *simulator.Context, task *simulator.Task, name, descriptionID, entityName string) {
	task.Info.Name = name
	task.Info.DescriptionId = descriptionID
	if entityName != "" {
		task.Info.EntityName = entityName
	}
	if ctx != nil && ctx.Session != nil && ctx.Session.UserName != "" {
		task.Info.Reason = &types.TaskReasonUser{UserName: ctx.Session.UserName}
	}
}
