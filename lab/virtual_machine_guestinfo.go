package main

// guestinfo set on a running VM is volatile: the VMX keeps it in memory, a power-off loses it.
//
// What real ESXi does (VMware's vic project, issues 1337 and 4110, from the engineers who built
// vic's guestinfo store on it; Flatcar's and CoreOS's guestinfo docs; ../shared/VSPHERE-FACTS.md):
//   - "guestinfo keys changed by the VMODL API when the VM is powered on become non-persistent -
//     this means that they are deleted when the VM is powered off" (vic 4110); "extraconfig data
//     will be removed if the keys were created while the VM was powered on, or if extraconfig was
//     supplied to a reconfigure operation when the VM was powered on" (vic 1337): a key written
//     to a running VM is gone after the next power-off, also one that existed before (its old
//     value does not come back);
//   - keys the guest sets (info-set) live in the VMX only and are lost the same way; the lab's
//     simulated guests set theirs through ReconfigVM on the running VM, so the same rule covers them;
//   - keys written while the VM is powered off go to the .vmx file and persist.
// Only guestinfo.* keys (case-insensitive) are concerned: other extraConfig options are VMX
// configuration that vCenter writes to the .vmx. A key removed on a running VM stays removed (what
// a later power-off does to it is not documented; the lab keeps it removed). A guest reboot and
// ResetVM_Task keep the VMX running and lose nothing; suspend is not modeled (unconfirmed).
//
// vcTrackGuestinfo marks the keys a reconfigure wrote (volatile on a running VM, persistent on a
// stopped one); vcForgetVolatileGuestinfo drops them at power-off (virtual_machine_power.go) and
// would at an HA restart (the lab models none), publishing config.extraConfig, changeVersion and
// modified like any change. The marks are journaled with the VM's extraConfig
// (virtual_machine.go), so a lab restarted while a VM runs still forgets them at its power-off.

import (
	"sort"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const guestinfoPrefix = "guestinfo."

// vcVolatile: per VM (moref), the guestinfo keys held in the running VMX only.
var vcVolatile = struct {
	sync.Mutex
	keys map[types.ManagedObjectReference]map[string]bool
}{keys: map[types.ManagedObjectReference]map[string]bool{}}

func isGuestinfo(key string) bool {
	return len(key) >= len(guestinfoPrefix) && strings.EqualFold(key[:len(guestinfoPrefix)], guestinfoPrefix)
}

// vcTrackGuestinfo notes what a reconfigure did to the VM's guestinfo keys: set on a running VM,
// volatile; set on a stopped one, persistent; removed, forgotten. The caller holds the VM's lock.
func vcTrackGuestinfo(vm *simulator.VirtualMachine, key string, set bool) {
	if !isGuestinfo(key) {
		return
	}
	running := vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
	vcVolatile.Lock()
	defer vcVolatile.Unlock()
	keys := vcVolatile.keys[vm.Self]
	if set && running {
		if keys == nil {
			keys = map[string]bool{}
			vcVolatile.keys[vm.Self] = keys
		}
		keys[key] = true
		return
	}
	delete(keys, key)
}

// vcVolatileKeys lists the VM's volatile guestinfo keys, sorted (for the journal).
func vcVolatileKeys(vm *simulator.VirtualMachine) []string {
	vcVolatile.Lock()
	defer vcVolatile.Unlock()
	out := make([]string, 0, len(vcVolatile.keys[vm.Self]))
	for k := range vcVolatile.keys[vm.Self] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// vcSetVolatileKeys restores the marks from the journal.
func vcSetVolatileKeys(vm *simulator.VirtualMachine, keys []string) {
	vcVolatile.Lock()
	defer vcVolatile.Unlock()
	if len(keys) == 0 {
		delete(vcVolatile.keys, vm.Self)
		return
	}
	set := map[string]bool{}
	for _, k := range keys {
		set[k] = true
	}
	vcVolatile.keys[vm.Self] = set
}

// vcForgetVolatileGuestinfo removes the VM's volatile guestinfo keys, as a power-off does, and
// publishes the change; it returns how many it removed. The caller holds the VM's lock.
func vcForgetVolatileGuestinfo(vm *simulator.VirtualMachine) int {
	vcVolatile.Lock()
	gone := vcVolatile.keys[vm.Self]
	delete(vcVolatile.keys, vm.Self)
	vcVolatile.Unlock()
	if len(gone) == 0 || vm.Config == nil {
		return 0
	}
	list := make([]types.BaseOptionValue, 0, len(vm.Config.ExtraConfig))
	for _, o := range vm.Config.ExtraConfig {
		if !gone[o.GetOptionValue().Key] {
			list = append(list, o)
		}
	}
	removed := len(vm.Config.ExtraConfig) - len(list)
	if removed > 0 {
		vcPublishExtraConfig(vm, list)
	}
	return removed
}
