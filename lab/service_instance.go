package main

// ServiceInstance.content.about: the lab is a vCenter 8.0 (its Automation API serves the 8.0 data
// set services, its VMs run virtual hardware up to vmx-22), so it says so where clients look for the
// product's version: about.version, build and fullName, as vCenter Server 8.0 Update 2 answers them
// (API reference, AboutInfo). The simulator answers vCenter 6.5.0. The SOAP API version stays the
// simulator's (about.apiVersion and /sdk/vimServiceVersions.xml agree on it, and SOAP clients
// negotiate their namespace from that file): the lab serves the 6.5 methods it implements, no more.

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	vcProductVersion = "8.0.2"
	vcProductBuild   = "22385739"
)

func init() {
	vcInstallers = append(vcInstallers, func() {
		si, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance)
		if !ok || si.Content.About.ApiType != "VirtualCenter" {
			return // an ESX model keeps its own
		}
		si.Content.About.Version = vcProductVersion
		si.Content.About.Build = vcProductBuild
		si.Content.About.FullName = si.Content.About.Name + " " + vcProductVersion + " build-" + vcProductBuild
	})
}
