package main

// ReconfigVM_Task and extraConfig. vsguesttruth delivers its verdicts to guests as
// `guestinfo.vsguesttruth.*` extraConfig keys and rewrites them when they change. vCenter treats
// VirtualMachineConfigSpec.extraConfig as a set of key updates:
//   - a key already present gets the new value (in place), a new key is appended;
//   - a key with an empty or unset value is removed;
//   - the VM's config.extraConfig (and config.changeVersion, config.modified) change is published,
//     so a WaitForUpdatesEx on "config.extraConfig" or on "config" sees it;
//   - a spec.changeVersion that no longer matches config.changeVersion fails the task with
//     ConcurrentAccess (vCenter's optimistic locking).
// The simulator appends every key again (duplicates, never removes) and publishes nothing.
//
// The caller needs VirtualMachine.Config.AdvancedConfig for extraConfig (authorization_manager.go), and
// every resulting extraConfig is journaled: vCenter keeps it across a restart.
//
// A spec with only extraConfig (what vsguesttruth sends) is done here entirely, with vCenter's task
// name and a VmReconfiguredEvent. A spec with more is applied in two steps: our extraConfig, then
// the simulator's ReconfigVM_Task with the rest (its "SET.*" simulator keys included); if that
// fails, the extraConfig change is rolled back.

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vcCallFixes["ReconfigVM_Task"] = vcHandleReconfigVM
	registerJournalLatest("extra_config", extraConfigVM, replayExtraConfig)
}

// vcSimulatorExtraConfig tells the simulator's own pseudo keys ("SET.guest.ipAddress", alias "ip0"),
// which it turns into guest property changes, from real extraConfig.
func vcSimulatorExtraConfig(key string) bool {
	return key == "ip0" || strings.HasPrefix(key, "SET.")
}

func vcHandleReconfigVM(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.ReconfigVM_Task)
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}

	var ours, theirs []types.BaseOptionValue
	for _, o := range req.Spec.ExtraConfig {
		if o == nil {
			continue
		}
		if vcSimulatorExtraConfig(o.GetOptionValue().Key) {
			theirs = append(theirs, o)
		} else {
			ours = append(ours, o)
		}
	}
	// vCenter checks the privilege of each part of the spec; extraConfig is AdvancedConfig
	priv := "VirtualMachine.Config.Settings"
	if len(req.Spec.ExtraConfig) != 0 {
		priv = "VirtualMachine.Config.AdvancedConfig"
	}
	if denied := vcCheckPrivilege(ctx, priv, vm.Self); denied != nil {
		return denied
	}
	if body := vcReconfigUnreachable(ctx, vm); body != nil {
		return body // host_system.go: vCenter cannot reach the VM's host
	}

	rest := req.Spec
	rest.ExtraConfig = theirs
	rest.ChangeVersion = ""
	onlyExtraConfig := reflect.DeepEqual(rest, types.VirtualMachineConfigSpec{})

	var body soap.HasFault
	simulator.Map.WithLock(vm, func() {
		if fault := vcCheckChangeVersion(vm, req.Spec.ChangeVersion); fault != nil && !onlyExtraConfig {
			// the simulator's task does not know changeVersion: refuse before it runs
			task := simulator.CreateTask(vm, "reconfigVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
				return nil, fault
			})
			vcSetTaskInfo(ctx, task, "ReconfigVM_Task", "VirtualMachine.reconfigure", vm.Name)
			body = &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: task.Run()}}
			return
		}

		if onlyExtraConfig {
			apply := func() types.BaseMethodFault {
				if vm.Config.Template {
					return &types.NotSupported{} // a template is reconfigured only as a VM
				}
				if fault := vcCheckChangeVersion(vm, req.Spec.ChangeVersion); fault != nil {
					return fault
				}
				if fault := vcValidateExtraConfig(ours); fault != nil {
					return fault
				}
				ev := &types.VmReconfiguredEvent{VmEvent: types.VmEvent{Event: vcEventArgs(vm.Self)}, ConfigSpec: req.Spec}
				vcPostEvents(ctx, ev)
				vcApplyExtraConfig(vm, ours)
				return nil
			}
			if timing := vcCurrentTiming(); timing.Enabled { // queued, then running a while (task_timing.go)
				task := simulator.CreateTask(vm, "reconfigVm", nil)
				vcSetTaskInfo(ctx, task, "ReconfigVM_Task", "VirtualMachine.reconfigure", vm.Name)
				cost := vcCost{}
				cost.add("vm", vm.Self, 1)
				ref := vcStartTimedTask(vm, task, cost, timing.duration(timing.ReconfigureMS), apply)
				body = &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: ref}}
				return
			}
			task := simulator.CreateTask(vm, "reconfigVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
				return nil, apply()
			})
			vcSetTaskInfo(ctx, task, "ReconfigVM_Task", "VirtualMachine.reconfigure", vm.Name)
			body = &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: task.Run()}}
			return
		}

		// Mixed spec: our extraConfig first, then the simulator for the rest.
		if fault := vcValidateExtraConfig(ours); fault != nil {
			task := simulator.CreateTask(vm, "reconfigVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
				return nil, fault
			})
			vcSetTaskInfo(ctx, task, "ReconfigVM_Task", "VirtualMachine.reconfigure", vm.Name)
			body = &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: task.Run()}}
			return
		}
		before, beforeVolatile := vm.Config.ExtraConfig, vcVolatileKeys(vm)
		vcApplyExtraConfig(vm, ours)
		sreq := *req
		sreq.Spec = rest
		res := vm.ReconfigVMTask(ctx, &sreq)
		if b, ok := res.(*methods.ReconfigVM_TaskBody); ok && b.Res != nil {
			if task, ok := simulator.Map.Get(b.Res.Returnval).(*simulator.Task); ok {
				vcSetTaskInfo(ctx, task, "ReconfigVM_Task", "VirtualMachine.reconfigure", vm.Name)
				if task.Info.State == types.TaskInfoStateError && len(ours) != 0 {
					vcSetVolatileKeys(vm, beforeVolatile)
					vcPublishExtraConfig(vm, before)
				}
			}
		}
		body = res
	})
	return body
}

// vcReconfigUnreachable fails the task when the VM's host is disconnected or not responding.
func vcReconfigUnreachable(ctx *simulator.Context, vm *simulator.VirtualMachine) soap.HasFault {
	if vcLab == nil {
		return nil
	}
	var hostRef *types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() { hostRef = vm.Runtime.Host })
	fault, msg := hostCommunication(vcLab.vcHostConn(hostRef))
	if fault == nil {
		return nil
	}
	refusal := &vcMoveFault{fault, msg}
	var body soap.HasFault
	simulator.Map.WithLock(vm, func() {
		task := simulator.CreateTask(vm, "reconfigVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return nil, refusal.fault
		})
		vcSetTaskInfo(ctx, task, "ReconfigVM_Task", "VirtualMachine.reconfigure", vm.Name)
		body = &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: vcRunTask(task, &refusal)}}
	})
	return body
}

// vcCheckChangeVersion: vCenter applies a spec carrying changeVersion only if it still matches.
func vcCheckChangeVersion(vm *simulator.VirtualMachine, want string) types.BaseMethodFault {
	if want != "" && vm.Config != nil && want != vm.Config.ChangeVersion {
		return &types.ConcurrentAccess{}
	}
	return nil
}

func vcValidateExtraConfig(opts []types.BaseOptionValue) types.BaseMethodFault {
	for _, o := range opts {
		if strings.TrimSpace(o.GetOptionValue().Key) == "" {
			return &types.InvalidArgument{InvalidProperty: "configSpec.extraConfig"}
		}
	}
	return nil
}

// vcExtraConfigString: VMX options are strings; vCenter stores and returns every value as one.
func vcExtraConfigString(v types.AnyType) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, x != ""
	case *string:
		if x == nil {
			return "", false
		}
		return *x, *x != ""
	default:
		s := fmt.Sprint(x)
		return s, s != ""
	}
}

// vcApplyExtraConfig merges the updates into a new list (replace in place, append new, remove
// empty), keeping only the first of any duplicate the simulator may have left, and publishes it.
// The caller holds the VM's lock.
func vcApplyExtraConfig(vm *simulator.VirtualMachine, updates []types.BaseOptionValue) {
	if len(updates) == 0 {
		return
	}
	type upd struct {
		val string
		set bool
	}
	want := map[string]upd{}
	var order []string
	for _, o := range updates {
		ov := o.GetOptionValue()
		val, set := vcExtraConfigString(ov.Value)
		if _, seen := want[ov.Key]; !seen {
			order = append(order, ov.Key)
		}
		want[ov.Key] = upd{val, set} // the last update of a key wins
	}
	var list []types.BaseOptionValue
	done := map[string]bool{}
	for _, o := range vm.Config.ExtraConfig {
		key := o.GetOptionValue().Key
		if done[key] {
			continue // a duplicate left by the simulator's append
		}
		done[key] = true
		if u, ok := want[key]; ok {
			if u.set {
				list = append(list, &types.OptionValue{Key: key, Value: u.val})
			}
			continue
		}
		list = append(list, o)
	}
	for _, key := range order {
		if u := want[key]; !done[key] && u.set {
			list = append(list, &types.OptionValue{Key: key, Value: u.val})
			done[key] = true
		}
	}
	if list == nil {
		list = []types.BaseOptionValue{}
	}
	for _, key := range order { // guestinfo written to a running VM is volatile (virtual_machine_guestinfo.go)
		vcTrackGuestinfo(vm, key, want[key].set)
	}
	vcPublishExtraConfig(vm, list)
}

func vcPublishExtraConfig(vm *simulator.VirtualMachine, list []types.BaseOptionValue) {
	now := time.Now().UTC()
	version := now.Format("2006-01-02T15:04:05.000000Z")
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "config.extraConfig", Val: list},
		{Name: "config.changeVersion", Val: version},
		{Name: "config.modified", Val: now},
	})
	journalExtraConfig(vm, list, version, now)
}

// --- the journal: a VM's whole extraConfig after each change ------------------------------------
//
//	{"t":"extra_config","vm":"app01","moref":"vm-42","options":[["k","v"],...],"change_version":"...","modified":"...",
//	 "volatile":["guestinfo.k"]}
//
// Each entry holds the whole list, so a replay applies only the last entry of each VM. volatile:
// the guestinfo keys a power-off will drop (virtual_machine_guestinfo.go).

type extraConfigRecord struct {
	VM            string      `json:"vm"`
	Options       [][2]string `json:"options"`
	ChangeVersion string      `json:"change_version"`
	Modified      string      `json:"modified"`
	Volatile      []string    `json:"volatile"`
}

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
		"volatile": vcVolatileKeys(vm),
	})
}

func extraConfigVM(e *journalEntry) string {
	var r struct {
		VM string `json:"vm"`
	}
	_ = e.decode(&r)
	return r.VM
}

func replayExtraConfig(l *Lab, e *journalEntry) error {
	var r extraConfigRecord
	if err := e.decode(&r); err != nil {
		return err
	}
	vm, err := l.vmByName(r.VM)
	if err != nil {
		return err
	}
	list := make([]types.BaseOptionValue, 0, len(r.Options))
	for _, kv := range r.Options {
		list = append(list, &types.OptionValue{Key: kv[0], Value: kv[1]})
	}
	modified, err := time.Parse(time.RFC3339Nano, r.Modified)
	if err != nil {
		modified = time.Now().UTC()
	}
	simulator.Map.WithLock(vm, func() {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "config.extraConfig", Val: list},
			{Name: "config.changeVersion", Val: r.ChangeVersion},
			{Name: "config.modified", Val: modified},
		})
		vcSetVolatileKeys(vm, r.Volatile)
	})
	return nil
}

// vmByName finds a VM of the inventory by name (journal entries name their VM).
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
