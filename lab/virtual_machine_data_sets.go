package main

// A VM's data sets (vSphere 8.0): the store behind the Automation API's data set services
// (vapi_data_sets.go) and the guest's vmtoolsd commands (guest_data_sets.go), with vCenter's
// rules and limits (the SDK bindings' documentation):
//   - a data set's id is its name, unique per VM; host and guest access NONE / READ_ONLY /
//     READ_WRITE; omit_from_snapshot_and_clone; a description up to 1024 bytes;
//   - entries: key up to 4096 bytes, value up to 1 MB (invalid_argument); about 100 MB per VM over
//     all its data sets (unable_to_allocate_resource); used counts the bytes of keys and values;
//   - a non-empty data set is deleted only with force (resource_in_use).
// Data sets live with the VM (its .dsd file): they survive power-off and a restart of vCenter, so
// every change is journaled (data set changes in order, entries by their last value):
//
//	{"t":"data_set","vm":"web01","op":"create","set":{...}}          create, update, delete
//	{"t":"data_set_entry","vm":"web01","data_set":"ds","key":"k","value":"v","deleted":false}

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

func init() {
	registerJournal("data_set", replayDataSet)
	registerJournalLatest("data_set_entry", func(e *journalEntry) string {
		var r vcEntryRecord
		_ = e.decode(&r)
		return r.VM + "\x00" + r.DataSet + "\x00" + r.Key
	}, replayDataSetEntry)
}

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

func vcSortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
