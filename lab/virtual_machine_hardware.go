package main

// Virtual hardware versions (config.version). A vCenter inventory mixes them: VMs created on
// vSphere 8 get vmx-20 or vmx-21, VMs carried over from older releases keep vmx-13..vmx-19 until
// an administrator upgrades them. Features depend on it (VM data sets need vmx-20 or later,
// vapi_data_sets.go), so the lab's VMs are a mix too: the topology's hardware_version, else one
// chosen from the VM's name (stable at every start, independent of placement): two VMs in three
// on vmx-20 or later. The simulator gives every VM vmx-13 and drops the version on a clone
// (virtual_machine_clone.go keeps the source's, as vCenter does).

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

var vcDefaultHardware = []string{"vmx-21", "vmx-19", "vmx-20", "vmx-21", "vmx-14", "vmx-20"}

// vcHardwareVersion is the config.version a topology VM is built with.
func vcHardwareVersion(spec *VMSpec) string {
	if spec.Hardware != "" {
		return spec.Hardware
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(spec.Name))
	return vcDefaultHardware[h.Sum32()%uint32(len(vcDefaultHardware))]
}

// vcValidHardwareVersion checks a topology's hardware_version: "" or vmx-4 .. vmx-22.
func vcValidHardwareVersion(v string) error {
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(v, "vmx-"))
	if !strings.HasPrefix(v, "vmx-") || err != nil || n < 4 || n > 22 {
		return fmt.Errorf("hardware_version %q: want vmx-4 .. vmx-22", v)
	}
	return nil
}
