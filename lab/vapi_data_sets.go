package main

// The Automation API's VM data set services (com.vmware.vcenter.vm.data_sets and
// .data_sets.entries, vSphere 8.0), as vCenter answers them (the SDK bindings' documentation;
// govmomi's newer simulator and govc's vm.dataset tests for the REST shapes); the store and its
// limits are virtual_machine_data_sets.go:
//   - only for VMs of virtual hardware vmx-20 or later; an older VM is unsupported, an unknown one
//     not_found; changes to a suspended VM are not_allowed_in_current_state;
//   - create answers the data set's id (its name); update changes the fields given; get/list of
//     entries need host access READ_ONLY or READ_WRITE, set/delete READ_WRITE (unauthorized: "the
//     data set access mode prevents the operation"); a missing entry is not_found;
//   - privileges VirtualMachine.DataSets.* on the VM (the read-only user has none).

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

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
