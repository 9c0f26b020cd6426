package main

// The guest's side of VM data sets: what `vmtoolsd --cmd "<command> <json>"` answers inside a VM,
// for the lab's simulated guests (the Python lab guest acts as the guest through this door).
//
//	POST /v1/guest/datasets  {"vm": "web01" | "vm-42", "cmd": "datasets-get-entry {\"dataset\":\"ds\",\"keys\":[\"k\"]}"}
//	-> 200 and the JSON vmtoolsd prints: {"result": true, ...} or {"result": false,
//	   "error-id": "...", "error-message": "..."}
//
// The commands and their JSON (evidence, lab/README.md "VM data sets in the guest"):
//   - datasets-list: {"result":true,"datasets":[{"name":...,"description":...}]} (VMware Guest
//     SDK Programming Guide, "Access from Guest OS" and "DataSets Schema for Guest Access");
//   - datasets-list-keys {"dataset":"ds"}: {"result":true,"keys":[...]} (the command is in the
//     guide; the "keys" field name is the lab's reading);
//   - datasets-get-entry {"dataset":"ds","keys":["k1","k2"]}: {"result":true,"entries":
//     [{"k1":"v1"},{"k2":"v2"}]} (github.com/akutz/dsp, a VMware engineer's proxy of exactly
//     these two commands; scripts reading `.entries[].KEY` from its output);
//   - datasets-set-entry {"dataset":"ds","entries":[{"key":"k","value":"v"}]}: {"result":true}
//     (the same sources).
// The guide's schemas share result, error-id and error-message, and name invalid-argument for
// extraneous parameters; the other error ids here (not-found, access-denied, limit-exceeded) are
// the lab's. datasets-query and the deletion of entries from the guest are not served: no
// public source shows their JSON. The guest's access mode is enforced: NONE refuses everything
// but the list, READ_ONLY refuses datasets-set-entry. The VM must be running (VMware Tools run
// in it) and of hardware vmx-20 or later (4xx otherwise, as the RPC fails); the API's limits
// apply (key 4096 bytes, value 1 MB, 100 MB per VM). What the guest writes is journaled as the
// API's writes are.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	controlRoutes["/v1/guest/datasets"] = func(l *Lab) http.HandlerFunc { return l.handleGuestDataSets }
}

type vcGuestAnswer map[string]interface{}

func vcGuestFail(id, msg string) vcGuestAnswer {
	return vcGuestAnswer{"result": false, "error-id": id, "error-message": msg}
}

func (l *Lab) handleGuestDataSets(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, &apiError{http.StatusMethodNotAllowed, "use POST"})
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, vapiMaxBody+1))
	if err != nil || len(data) > vapiMaxBody {
		writeError(w, badRequest("the body is too large"))
		return
	}
	var req struct {
		VM  string `json:"vm"`
		Cmd string `json:"cmd"`
	}
	d := json.NewDecoder(strings.NewReader(string(data)))
	d.DisallowUnknownFields()
	if !vapiDepthOK(data, vapiMaxDepth) || d.Decode(&req) != nil || req.VM == "" || req.Cmd == "" {
		writeError(w, badRequest(`the body must be {"vm": NAME, "cmd": "datasets-... JSON"}`))
		return
	}
	vm, err := l.guestVM(req.VM)
	if err != nil {
		writeError(w, err)
		return
	}
	name, arg := req.Cmd, ""
	if i := strings.IndexAny(req.Cmd, " \t"); i >= 0 {
		name, arg = req.Cmd[:i], strings.TrimSpace(req.Cmd[i+1:])
	}
	run, ok := vcGuestCommands[name]
	if !ok {
		writeError(w, badRequest("Unknown command: %s", name))
		return
	}
	in := vapiIn{}
	if arg != "" {
		v, err := vapiDecode([]byte(arg))
		obj, isObj := v.(map[string]interface{})
		if err != nil || !isObj {
			writeJSON(w, http.StatusOK, vcGuestFail("invalid-argument", "The argument is not a JSON object."))
			return
		}
		in = obj
	}
	vcDataSets.Lock()
	answer := run(vm.Self.Value, vm.Name, in)
	vcDataSets.Unlock()
	writeJSON(w, http.StatusOK, answer)
}

// guestVM finds a running VM of hardware vmx-20 or later, by name or moref.
func (l *Lab) guestVM(id string) (*simulator.VirtualMachine, error) {
	vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: id}).(*simulator.VirtualMachine)
	if !ok {
		var err error
		if vm, err = l.vmByName(id); err != nil {
			return nil, notFound("unknown VM '%s'", id)
		}
	}
	var power types.VirtualMachinePowerState
	var version string
	simulator.Map.WithLock(vm, func() {
		power = vm.Runtime.PowerState
		if vm.Config != nil {
			version = vm.Config.Version
		}
	})
	if power != types.VirtualMachinePowerStatePoweredOn {
		return nil, &apiError{http.StatusConflict, fmt.Sprintf("VM %s is %s: no guest runs vmtoolsd", vm.Name, power)}
	}
	if vcHardwareNumber(version) < vcDataSetMinHardware {
		return nil, &apiError{http.StatusConflict, fmt.Sprintf("VM %s has virtual hardware %s: data sets need vmx-%d or later", vm.Name, version, vcDataSetMinHardware)}
	}
	return vm, nil
}

// vcGuestCommands run with vcDataSets locked.
var vcGuestCommands = map[string]func(vm, vmName string, in vapiIn) vcGuestAnswer{
	"datasets-list": func(vm, _ string, in vapiIn) vcGuestAnswer {
		if err := in.only(); err != nil {
			return vcGuestFail("invalid-argument", err.msg)
		}
		list := []interface{}{}
		for _, d := range vcDataSets.byVM[vm] {
			list = append(list, map[string]interface{}{"name": d.Name, "description": d.Description})
		}
		return vcGuestAnswer{"result": true, "datasets": list}
	},
	"datasets-list-keys": func(vm, _ string, in vapiIn) vcGuestAnswer {
		d, fail := vcGuestDataSet(vm, in, false, "dataset", "context")
		if fail != nil {
			return fail
		}
		return vcGuestAnswer{"result": true, "keys": vapiStrings(vcSortedKeys(d.entries))}
	},
	"datasets-get-entry": func(vm, _ string, in vapiIn) vcGuestAnswer {
		d, fail := vcGuestDataSet(vm, in, false, "dataset", "keys")
		if fail != nil {
			return fail
		}
		keys, err := in.strList("keys")
		if err != nil {
			return vcGuestFail("invalid-argument", err.msg)
		}
		entries := make([]interface{}, 0, len(keys))
		for _, k := range keys {
			v, ok := d.entries[k]
			if !ok {
				return vcGuestFail("not-found", fmt.Sprintf("No entry %q in data set %q.", k, d.Name))
			}
			entries = append(entries, map[string]interface{}{k: v})
		}
		return vcGuestAnswer{"result": true, "entries": entries}
	},
	"datasets-set-entry": func(vm, vmName string, in vapiIn) vcGuestAnswer {
		d, fail := vcGuestDataSet(vm, in, true, "dataset", "entries")
		if fail != nil {
			return fail
		}
		list, ok := in["entries"].([]interface{})
		if !ok || len(list) == 0 {
			return vcGuestFail("invalid-argument", `"entries" must be a non-empty list of {"key": ..., "value": ...}.`)
		}
		type kv struct{ k, v string }
		var sets []kv
		for _, e := range list {
			obj, ok := e.(map[string]interface{})
			if !ok {
				return vcGuestFail("invalid-argument", "Each entry must be an object.")
			}
			entry := vapiIn(obj)
			if err := entry.only("key", "value"); err != nil {
				return vcGuestFail("invalid-argument", err.msg)
			}
			k, err := entry.str("key")
			if err == nil {
				var v string
				if v, err = entry.str("value"); err == nil {
					sets = append(sets, kv{k, v})
				}
			}
			if err != nil {
				return vcGuestFail("invalid-argument", err.msg)
			}
		}
		// all or nothing: check every entry before the first is written
		trial := &vcDataSet{entries: map[string]string{}}
		for k, v := range d.entries {
			trial.entries[k] = v
		}
		for _, s := range sets {
			v := s.v
			if err := vcSetEntry(vm, trial, s.k, &v); err != nil {
				id := "invalid-argument"
				if err.kind == "unable_to_allocate_resource" {
					id = "limit-exceeded"
				}
				return vcGuestFail(id, err.msg)
			}
		}
		if vcVMUsed(vm)-d.used()+trial.used() > vcDataSetVMMax {
			return vcGuestFail("limit-exceeded", "The data sets of this virtual machine would exceed 100 MB.")
		}
		for _, s := range sets {
			v := s.v
			_ = vcSetEntry(vm, d, s.k, &v)
			vcJournalEntry(vmName, d.Name, s.k, &v)
		}
		return vcGuestAnswer{"result": true}
	},
}

// vcGuestDataSet reads {"dataset": NAME, ...} and checks the guest's access.
func vcGuestDataSet(vm string, in vapiIn, write bool, fields ...string) (*vcDataSet, vcGuestAnswer) {
	if err := in.only(fields...); err != nil {
		return nil, vcGuestFail("invalid-argument", err.msg)
	}
	name, err := in.str("dataset")
	if err != nil {
		return nil, vcGuestFail("invalid-argument", err.msg)
	}
	d := vcFindDataSet(vm, name)
	if d == nil {
		return nil, vcGuestFail("not-found", fmt.Sprintf("No data set %q.", name))
	}
	if d.Guest == "NONE" || (write && d.Guest != "READ_WRITE") {
		return nil, vcGuestFail("access-denied", fmt.Sprintf("The guest access of data set %q is %s.", name, d.Guest))
	}
	return d, nil
}
