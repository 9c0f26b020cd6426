package main

// VM data sets (com.vmware.vcenter.vm.data_sets and .data_sets.entries, vSphere 8.0), as vCenter
// answers them (the SDK bindings' documentation; govmomi's newer simulator and govc's
// vm.dataset tests for the REST shapes):
//   - only for VMs of virtual hardware vmx-20 or later; an older VM is unsupported, an unknown
//     one not_found; changes to a suspended VM are not_allowed_in_current_state;
//   - a data set's id is its name; create: name unique per VM (already_exists), description up to
//     1024 bytes, host and guest access NONE / READ_ONLY / READ_WRITE, omit_from_snapshot_and_clone
//     (default false); update changes the fields given; delete of a non-empty set needs force
//     (resource_in_use); info.used counts the bytes of keys and values;
//   - entries: key up to 4096 bytes, value up to 1 MB (invalid_argument); about 100 MB per VM
//     over all its data sets (unable_to_allocate_resource); get/list need host access READ_ONLY
//     or READ_WRITE, set/delete READ_WRITE (unauthorized: "the data set access mode prevents
//     the operation"); a missing entry is not_found;
//   - privileges VirtualMachine.DataSets.* on the VM (the read-only user has none);
//   - data sets live with the VM (its .dsd file): they survive power-off, and a CloneVM_Task copies
//     those without omit_from_snapshot_and_clone (virtual_machine_clone.go). The guest side is
//     guest_data_sets.go.
// vCenter keeps them with the VM: every change is journaled (data set changes in order, entries
// by their last value):
//
//	{"t":"data_set","vm":"web01","op":"create","set":{...}}          create, update, delete
//	{"t":"data_set_entry","vm":"web01","data_set":"ds","key":"k","value":"v","deleted":false}

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	vcDataSetMinHardware = 20
	vcDataSetKeyMax      = 4096
	vcDataSetValueMax    = 1 << 20
	vcDataSetVMMax       = 100 << 20
	vcDataSetDescMax     = 1024
)

type vcDataSet struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Host        string `json:"host"`
	Guest       string `json:"guest"`
	Omit        bool   `json:"omit_from_snapshot_and_clone"`
	entries     map[string]string
}

func (d *vcDataSet) used() int64 {
	var n int64
	for k, v := range d.entries {
		n += int64(len(k) + len(v))
	}
	return n
}

// vcDataSets holds every VM's data sets by VM moref, in creation order.
var vcDataSets = struct {
	sync.Mutex
	byVM map[string][]*vcDataSet
}{byVM: map[string][]*vcDataSet{}}

func vcFindDataSet(vm, name string) *vcDataSet {
	for _, d := range vcDataSets.byVM[vm] {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func vcVMUsed(vm string) int64 {
	var n int64
	for _, d := range vcDataSets.byVM[vm] {
		n += d.used()
	}
	return n
}

func vcAccessValid(a string) bool { return a == "NONE" || a == "READ_ONLY" || a == "READ_WRITE" }

// vcHardwareNumber is the number of a config.version ("vmx-20" -> 20), 0 if unknown.
func vcHardwareNumber(version string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(version, "vmx-"))
	if err != nil {
		return 0
	}
	return n
}

// vcDataSetVM finds the VM of a data set call and checks what vCenter checks first; it returns
// the VM's name for the journal.
func vcDataSetVM(moref string, modify bool) (string, *vapiError) {
	vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: moref}).(*simulator.VirtualMachine)
	if !ok {
		return "", vapiErr("not_found", "com.vmware.vcenter.vm.not_found", "Virtual machine with identifier '"+moref+"' does not exist.")
	}
	var name, version string
	var power types.VirtualMachinePowerState
	simulator.Map.WithLock(vm, func() {
		name, power = vm.Name, vm.Runtime.PowerState
		if vm.Config != nil {
			version = vm.Config.Version
		}
	})
	if vcHardwareNumber(version) < vcDataSetMinHardware {
		return "", vapiErr("unsupported", "com.vmware.vcenter.vm.data_sets.unsupported_hardware",
			fmt.Sprintf("The virtual hardware version %s of virtual machine '%s' does not support data sets (vmx-%d or later is needed).",
				version, name, vcDataSetMinHardware))
	}
	if modify && power == types.VirtualMachinePowerStateSuspended {
		return "", vapiErr("not_allowed_in_current_state", "com.vmware.vcenter.vm.data_sets.suspended",
			"The virtual machine '"+name+"' is suspended: its data sets cannot be modified.")
	}
	return name, nil
}

func vcDataSetNotFound(name string) *vapiError {
	return vapiErr("not_found", "com.vmware.vcenter.vm.data_sets.not_found", "Data set '"+name+"' does not exist.")
}

// --- changes (the operations, the guest side and the journal replay call these) ---------------

func vcCreateDataSet(vm string, d *vcDataSet) *vapiError {
	switch {
	case d.Name == "":
		return vapiErr("invalid_argument", "com.vmware.vcenter.vm.data_sets.name", "The data set name must not be empty.")
	case len(d.Description) > vcDataSetDescMax:
		return vapiErr("invalid_argument", "com.vmware.vcenter.vm.data_sets.description", "The description is longer than 1024 bytes.")
	case !vcAccessValid(d.Host) || !vcAccessValid(d.Guest):
		return vapiErr("invalid_argument", "com.vmware.vcenter.vm.data_sets.access", "Access must be NONE, READ_ONLY or READ_WRITE.")
	case vcFindDataSet(vm, d.Name) != nil:
		return vapiErr("already_exists", "com.vmware.vcenter.vm.data_sets.exists", "Data set '"+d.Name+"' already exists.")
	}
	if d.entries == nil {
		d.entries = map[string]string{}
	}
	vcDataSets.byVM[vm] = append(vcDataSets.byVM[vm], d)
	return nil
}

func vcUpdateDataSet(vm, name string, description, host, guest *string, omit *bool) *vapiError {
	d := vcFindDataSet(vm, name)
	if d == nil {
		return vcDataSetNotFound(name)
	}
	if description != nil && len(*description) > vcDataSetDescMax {
		return vapiErr("invalid_argument", "com.vmware.vcenter.vm.data_sets.description", "The description is longer than 1024 bytes.")
	}
	if (host != nil && !vcAccessValid(*host)) || (guest != nil && !vcAccessValid(*guest)) {
		return vapiErr("invalid_argument", "com.vmware.vcenter.vm.data_sets.access", "Access must be NONE, READ_ONLY or READ_WRITE.")
	}
	if description != nil {
		d.Description = *description
	}
	if host != nil {
		d.Host = *host
	}
	if guest != nil {
		d.Guest = *guest
	}
	if omit != nil {
		d.Omit = *omit
	}
	return nil
}

func vcDeleteDataSet(vm, name string, force bool) *vapiError {
	d := vcFindDataSet(vm, name)
	if d == nil {
		return vcDataSetNotFound(name)
	}
	if len(d.entries) > 0 && !force {
		return vapiErr("resource_in_use", "com.vmware.vcenter.vm.data_sets.not_empty",
			"Data set '"+name+"' is not empty: delete it with force.")
	}
	list := vcDataSets.byVM[vm]
	out := make([]*vcDataSet, 0, len(list))
	for _, x := range list {
		if x != d {
			out = append(out, x)
		}
	}
	vcDataSets.byVM[vm] = out
	return nil
}

// vcSetEntry sets or deletes (value nil) one entry, with vCenter's limits.
func vcSetEntry(vm string, d *vcDataSet, key string, value *string) *vapiError {
	if value == nil {
		if _, ok := d.entries[key]; !ok {
			return vapiErr("not_found", "com.vmware.vcenter.vm.data_sets.entries.not_found", "Entry '"+key+"' does not exist.")
		}
		delete(d.entries, key)
		return nil
	}
	switch {
	case key == "":
		return vapiErr("invalid_argument", "com.vmware.vcenter.vm.data_sets.entries.key", "The key must not be empty.")
	case len(key) > vcDataSetKeyMax:
		return vapiErr("invalid_argument", "com.vmware.vcenter.vm.data_sets.entries.key_too_large", "The key is larger than 4096 bytes.")
	case len(*value) > vcDataSetValueMax:
		return vapiErr("invalid_argument", "com.vmware.vcenter.vm.data_sets.entries.value_too_large", "The value is larger than 1 MB.")
	}
	old, had := d.entries[key]
	grow := int64(len(*value) - len(old))
	if !had {
		grow += int64(len(key))
	}
	if vcVMUsed(vm)+grow > vcDataSetVMMax {
		return vapiErr("unable_to_allocate_resource", "com.vmware.vcenter.vm.data_sets.full",
			"The data sets of this virtual machine would exceed 100 MB.")
	}
	d.entries[key] = *value
	return nil
}

func vcJournalDataSet(vmName, op string, d *vcDataSet) {
	vcJournal.write("data_set", map[string]interface{}{"vm": vmName, "op": op, "set": d})
}

func vcJournalEntry(vmName, set, key string, value *string) {
	fields := map[string]interface{}{"vm": vmName, "data_set": set, "key": key, "deleted": value == nil}
	if value != nil {
		fields["value"] = *value
	}
	vcJournal.write("data_set_entry", fields)
}

// --- the operations --------------------------------------------------------------------------

// vcDataSetCall checks the privilege and the VM, then runs f with the data sets locked.
func vcDataSetCall(c *vapiCall, privilege string, modify bool, f func(vm, vmName string) (interface{}, *vapiError)) (interface{}, *vapiError) {
	vm, err := c.in.str("vm")
	if err != nil {
		return nil, err
	}
	if err := c.check(privilege); err != nil {
		return nil, err
	}
	vmName, err := vcDataSetVM(vm, modify)
	if err != nil {
		return nil, err
	}
	vcDataSets.Lock()
	defer vcDataSets.Unlock()
	return f(vm, vmName)
}

// vcEntryCall is a data set entry call: the data set found and its host access checked.
func vcEntryCall(c *vapiCall, privilege string, write bool, f func(vm, vmName string, d *vcDataSet) (interface{}, *vapiError)) (interface{}, *vapiError) {
	name, err := c.in.str("data_set")
	if err != nil {
		return nil, err
	}
	return vcDataSetCall(c, privilege, write, func(vm, vmName string) (interface{}, *vapiError) {
		d := vcFindDataSet(vm, name)
		if d == nil {
			return nil, vcDataSetNotFound(name)
		}
		if d.Host == "NONE" || (write && d.Host != "READ_WRITE") {
			return nil, vapiErr("unauthorized", "com.vmware.vcenter.vm.data_sets.access_denied",
				"The data set access mode prevents the operation (host access "+d.Host+").")
		}
		return f(vm, vmName, d)
	})
}

func init() {
	const svc, entries = "com.vmware.vcenter.vm.data_sets", "com.vmware.vcenter.vm.data_sets.entries"
	registerVapi(
		vapiOp{service: svc, op: "create", rest: "POST /vcenter/vm/{vm}/data-sets", body: "spec", created: true,
			fields: []string{"vm", "spec"}, run: vcHandleDataSetCreate},
		vapiOp{service: svc, op: "update", rest: "PATCH /vcenter/vm/{vm}/data-sets/{data_set}", body: "spec",
			fields: []string{"vm", "data_set", "spec"}, run: vcHandleDataSetUpdate},
		vapiOp{service: svc, op: "delete", rest: "DELETE /vcenter/vm/{vm}/data-sets/{data_set}",
			fields: []string{"vm", "data_set", "force"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				name, err := c.in.str("data_set")
				if err != nil {
					return nil, err
				}
				force, _, err := c.in.optBool("force")
				if err != nil {
					return nil, err
				}
				return vcDataSetCall(c, "VirtualMachine.DataSets.DataSetDelete", true, func(vm, vmName string) (interface{}, *vapiError) {
					d := vcFindDataSet(vm, name)
					if err := vcDeleteDataSet(vm, name, force); err != nil {
						return nil, err
					}
					vcJournalDataSet(vmName, "delete", d)
					return nil, nil
				})
			}},
		vapiOp{service: svc, op: "get", rest: "GET /vcenter/vm/{vm}/data-sets/{data_set}",
			fields: []string{"vm", "data_set"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				name, err := c.in.str("data_set")
				if err != nil {
					return nil, err
				}
				return vcDataSetCall(c, "VirtualMachine.DataSets.DataSetGet", false, func(vm, _ string) (interface{}, *vapiError) {
					d := vcFindDataSet(vm, name)
					if d == nil {
						return nil, vcDataSetNotFound(name)
					}
					return newStruct("com.vmware.vcenter.vm.data_sets.info", "name", d.Name, "description", d.Description,
						"host", d.Host, "guest", d.Guest, "used", d.used(), "omit_from_snapshot_and_clone", d.Omit), nil
				})
			}},
		vapiOp{service: svc, op: "list", rest: "GET /vcenter/vm/{vm}/data-sets",
			fields: []string{"vm"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				return vcDataSetCall(c, "VirtualMachine.DataSets.DataSetList", false, func(vm, _ string) (interface{}, *vapiError) {
					out := []interface{}{}
					for _, d := range vcDataSets.byVM[vm] {
						out = append(out, newStruct("com.vmware.vcenter.vm.data_sets.summary",
							"data_set", d.Name, "name", d.Name, "description", d.Description))
					}
					return out, nil
				})
			}},

		vapiOp{service: entries, op: "set", rest: "PUT /vcenter/vm/{vm}/data-sets/{data_set}/entries/{key}", body: "value",
			fields: []string{"vm", "data_set", "key", "value"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				key, err := c.in.str("key")
				if err != nil {
					return nil, err
				}
				value, err := c.in.str("value")
				if err != nil {
					return nil, err
				}
				return vcEntryCall(c, "VirtualMachine.DataSets.DataSetEntrySet", true, func(vm, vmName string, d *vcDataSet) (interface{}, *vapiError) {
					if err := vcSetEntry(vm, d, key, &value); err != nil {
						return nil, err
					}
					vcJournalEntry(vmName, d.Name, key, &value)
					return nil, nil
				})
			}},
		vapiOp{service: entries, op: "get", rest: "GET /vcenter/vm/{vm}/data-sets/{data_set}/entries/{key}",
			fields: []string{"vm", "data_set", "key"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				key, err := c.in.str("key")
				if err != nil {
					return nil, err
				}
				return vcEntryCall(c, "VirtualMachine.DataSets.DataSetEntryGet", false, func(_, _ string, d *vcDataSet) (interface{}, *vapiError) {
					v, ok := d.entries[key]
					if !ok {
						return nil, vapiErr("not_found", "com.vmware.vcenter.vm.data_sets.entries.not_found", "Entry '"+key+"' does not exist.")
					}
					return v, nil
				})
			}},
		vapiOp{service: entries, op: "delete", rest: "DELETE /vcenter/vm/{vm}/data-sets/{data_set}/entries/{key}",
			fields: []string{"vm", "data_set", "key"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				key, err := c.in.str("key")
				if err != nil {
					return nil, err
				}
				return vcEntryCall(c, "VirtualMachine.DataSets.DataSetEntryDelete", true, func(vm, vmName string, d *vcDataSet) (interface{}, *vapiError) {
					if err := vcSetEntry(vm, d, key, nil); err != nil {
						return nil, err
					}
					vcJournalEntry(vmName, d.Name, key, nil)
					return nil, nil
				})
			}},
		vapiOp{service: entries, op: "list", rest: "GET /vcenter/vm/{vm}/data-sets/{data_set}/entries",
			fields: []string{"vm", "data_set"}, run: func(c *vapiCall) (interface{}, *vapiError) {
				return vcEntryCall(c, "VirtualMachine.DataSets.DataSetEntryList", false, func(_, _ string, d *vcDataSet) (interface{}, *vapiError) {
					return vapiStrings(vcSortedKeys(d.entries)), nil
				})
			}},
	)
	registerJournal("data_set", replayDataSet)
	registerJournalLatest("data_set_entry", func(e *journalEntry) string {
		var r vcEntryRecord
		_ = e.decode(&r)
		return r.VM + "\x00" + r.DataSet + "\x00" + r.Key
	}, replayDataSetEntry)
}

func vcSortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func vcHandleDataSetCreate(c *vapiCall) (interface{}, *vapiError) {
	spec, err := c.in.sub("spec", "name", "description", "host", "guest", "omit_from_snapshot_and_clone")
	if err != nil {
		return nil, err
	}
	d := &vcDataSet{}
	for field, dst := range map[string]*string{"name": &d.Name, "description": &d.Description, "host": &d.Host, "guest": &d.Guest} {
		if *dst, err = spec.str(field); err != nil {
			return nil, err
		}
	}
	if d.Omit, _, err = spec.optBool("omit_from_snapshot_and_clone"); err != nil {
		return nil, err
	}
	return vcDataSetCall(c, "VirtualMachine.DataSets.DataSetCreate", true, func(vm, vmName string) (interface{}, *vapiError) {
		if err := vcCreateDataSet(vm, d); err != nil {
			return nil, err
		}
		vcJournalDataSet(vmName, "create", d)
		return d.Name, nil
	})
}

func vcHandleDataSetUpdate(c *vapiCall) (interface{}, *vapiError) {
	name, err := c.in.str("data_set")
	if err != nil {
		return nil, err
	}
	spec, err := c.in.sub("spec", "description", "host", "guest", "omit_from_snapshot_and_clone")
	if err != nil {
		return nil, err
	}
	var description, host, guest *string
	for field, dst := range map[string]**string{"description": &description, "host": &host, "guest": &guest} {
		v, set, err := spec.optStr(field)
		if err != nil {
			return nil, err
		}
		if set {
			value := v
			*dst = &value
		}
	}
	var omit *bool
	if v, set, err := spec.optBool("omit_from_snapshot_and_clone"); err != nil {
		return nil, err
	} else if set {
		omit = &v
	}
	return vcDataSetCall(c, "VirtualMachine.DataSets.DataSetUpdate", true, func(vm, vmName string) (interface{}, *vapiError) {
		if err := vcUpdateDataSet(vm, name, description, host, guest, omit); err != nil {
			return nil, err
		}
		vcJournalDataSet(vmName, "update", vcFindDataSet(vm, name))
		return nil, nil
	})
}

// --- replay ----------------------------------------------------------------------------------

type vcEntryRecord struct {
	VM      string `json:"vm"`
	DataSet string `json:"data_set"`
	Key     string `json:"key"`
	Value   string `json:"value"`
	Deleted bool   `json:"deleted"`
}

func replayDataSet(l *Lab, e *journalEntry) error {
	var r struct {
		VM  string     `json:"vm"`
		Op  string     `json:"op"`
		Set *vcDataSet `json:"set"`
	}
	if err := e.decode(&r); err != nil {
		return err
	}
	if r.Set == nil {
		return fmt.Errorf("no data set in the entry")
	}
	vm, err := l.vmByName(r.VM)
	if err != nil {
		return err
	}
	vcDataSets.Lock()
	defer vcDataSets.Unlock()
	var verr *vapiError
	switch r.Op {
	case "create":
		verr = vcCreateDataSet(vm.Self.Value, r.Set)
	case "update":
		d := r.Set
		verr = vcUpdateDataSet(vm.Self.Value, d.Name, &d.Description, &d.Host, &d.Guest, &d.Omit)
	case "delete":
		verr = vcDeleteDataSet(vm.Self.Value, r.Set.Name, true)
	default:
		return fmt.Errorf("unknown data set change %q", r.Op)
	}
	if verr != nil {
		return fmt.Errorf("%s %s: %s", r.Op, r.Set.Name, verr.msg)
	}
	return nil
}

func replayDataSetEntry(l *Lab, e *journalEntry) error {
	var r vcEntryRecord
	if err := e.decode(&r); err != nil {
		return err
	}
	vm, err := l.vmByName(r.VM)
	if err != nil {
		return err
	}
	vcDataSets.Lock()
	defer vcDataSets.Unlock()
	d := vcFindDataSet(vm.Self.Value, r.DataSet)
	if d == nil {
		return fmt.Errorf("no data set %q on %s", r.DataSet, r.VM)
	}
	if r.Deleted {
		delete(d.entries, r.Key)
		return nil
	}
	if verr := vcSetEntry(vm.Self.Value, d, r.Key, &r.Value); verr != nil {
		return fmt.Errorf("%s: %s", r.Key, verr.msg)
	}
	return nil
}
