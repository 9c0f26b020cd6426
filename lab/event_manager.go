package main

// Events. vsguesttruth keeps its record in vCenter: it logs what it did on the VM with
// EventManager.LogUserEvent and reads it back with QueryEvents or an EventHistoryCollector.
//   - LogUserEvent (missing in 0.24.2, MethodNotFound): vCenter posts a GeneralUserEvent with
//     `entity` and `message` set, the entity also in the event's vm/host/computeResource/ds/
//     datacenter arguments (so an entity-filtered query or collector finds it), userName the
//     caller, fullFormattedMessage "User logged event: <msg>".
//   - QueryEvents with an unset filter.maxCount: vCenter returns up to 1000 events; the simulator
//     returned the latest 10 only.
//   - Event messages: vCenter formats every event's fullFormattedMessage. The simulator formats
//     from Go templates in EventManager.description.eventInfo and panics on the malformed
//     VmMigratedEvent template, which would break a migration. We fix the templates that do not
//     parse (PostEvent itself, for events a client posts, is the simulator's and works).
//   - LogUserEvent and PostEvent need Global.LogEvent (vcenter_privileges.go).
//   - vCenter keeps its events in its database: every posted event goes to the journal, with its
//     key, createdTime and user (journal.go), and a restarted lab returns the same history.

import (
	"fmt"
	"log"
	"text/template"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vcCallFixes["LogUserEvent"] = vcHandleLogUserEvent
	vcCallFixes["QueryEvents"] = vcHandleQueryEvents
	vcCallFixes["PostEvent"] = vcHandlePostEvent
}

// vcEventTemplates are the vCenter messages of the events we post whose simulator template is
// missing or broken (Go text/template over the event struct).
var vcEventTemplates = map[string]string{
	"VmMigratedEvent":         "Migration of virtual machine {{.Vm.Name}} from {{.SourceHost.Name}} to {{.Host.Name}} completed",
	"VmBeingMigratedEvent":    "Migrating {{.Vm.Name}} from {{.Host.Name}} to {{.DestHost.Name}} in {{.Datacenter.Name}}",
	"VmBeingHotMigratedEvent": "Migrating {{.Vm.Name}} off host {{.Host.Name}} in {{.Datacenter.Name}}",
	"VmBeingRelocatedEvent":   "Relocating {{.Vm.Name}} from {{.Host.Name}} to {{.DestHost.Name}} in {{.Datacenter.Name}}",
	"VmRelocatedEvent":        "Completed the relocation of the virtual machine {{.Vm.Name}} from {{.SourceHost.Name}} to {{.Host.Name}}",
}

func vcInstallEventFixes() {
	em := simulator.Map.EventManager()
	simulator.Map.WithLock(em, func() {
		seen := map[string]bool{}
		for i := range em.Description.EventInfo {
			info := &em.Description.EventInfo[i]
			seen[info.Key] = true
			if fixed, ok := vcEventTemplates[info.Key]; ok {
				if _, err := template.New(info.Key).Parse(info.FullFormat); err != nil {
					info.FullFormat = fixed
				}
				continue
			}
			if _, err := template.New(info.Key).Parse(info.FullFormat); err != nil {
				log.Printf("vcenter fixes: event template %s does not parse (%v), using its description", info.Key, err)
				info.FullFormat = info.Description
			}
		}
		for key, format := range vcEventTemplates {
			if !seen[key] {
				em.Description.EventInfo = append(em.Description.EventInfo, types.EventDescriptionEventDetail{
					Key: key, Description: key, Category: "info", FullFormat: format,
				})
			}
		}
	})
}

// vcPostEvents posts events through the simulator's EventManager, as its own methods do. While the
// journal is replayed it posts nothing: the journal holds the events the original change posted.
func vcPostEvents(ctx *simulator.Context, events ...types.BaseEvent) {
	if vcReplaying {
		return
	}
	em := simulator.Map.EventManager()
	post := func() {
		for _, e := range events {
			em.PostEvent(ctx, &types.PostEvent{EventToPost: e})
		}
	}
	simulator.Map.WithLock(em, post) // never held by our callers
}

// vcEventArgs fills an event's entity arguments for ref the way vCenter does: the entity itself
// and the inventory around it (a VM's host, compute resource and datacenter).
func vcEventArgs(ref types.ManagedObjectReference) types.Event {
	var e types.Event
	dc := vcAncestor(ref, "Datacenter")
	switch ref.Type {
	case "VirtualMachine":
		e.Vm = &types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(ref)}, Vm: ref}
		if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok && vm.Runtime.Host != nil {
			h := vcEventArgs(*vm.Runtime.Host)
			e.Host, e.ComputeResource = h.Host, h.ComputeResource
			if dc == nil && h.Datacenter != nil {
				d := h.Datacenter.Datacenter
				dc = &d
			}
		}
	case "HostSystem":
		e.Host = &types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(ref)}, Host: ref}
		if host, ok := simulator.Map.Get(ref).(*simulator.HostSystem); ok && host.Parent != nil {
			cr := *host.Parent
			e.ComputeResource = &types.ComputeResourceEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(cr)}, ComputeResource: cr}
		}
	case "ClusterComputeResource", "ComputeResource":
		e.ComputeResource = &types.ComputeResourceEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(ref)}, ComputeResource: ref}
	case "Datastore":
		e.Ds = &types.DatastoreEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(ref)}, Datastore: ref}
	case "Datacenter":
		d := ref
		dc = &d
	}
	if dc != nil {
		e.Datacenter = &types.DatacenterEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vcName(*dc)}, Datacenter: *dc}
	}
	return e
}

func vcHandleLogUserEvent(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.LogUserEvent)
	if vcEntity(req.Entity) == nil {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.Entity},
			fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", req.Entity))
	}
	if denied := vcCheckPrivilege(ctx, "Global.LogEvent", req.Entity); denied != nil {
		return denied
	}
	event := &types.GeneralUserEvent{
		GeneralEvent: types.GeneralEvent{Event: vcEventArgs(req.Entity), Message: req.Msg},
		Entity: &types.ManagedEntityEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: vcName(req.Entity)},
			Entity:              req.Entity,
		},
	}
	event.FullFormattedMessage = "User logged event: " + req.Msg
	vcPostEvents(ctx, event)
	return &methods.LogUserEventBody{Res: &types.LogUserEventResponse{}}
}

func vcHandleQueryEvents(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.QueryEvents)
	em, ok := simulator.Map.Get(req.This).(*simulator.EventManager)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	if req.Filter.MaxCount == 0 {
		req.Filter.MaxCount = 1000
	}
	var res soap.HasFault
	simulator.Map.WithLock(em, func() { res = em.QueryEvents(ctx, req) })
	return res
}

// vcHandlePostEvent is the simulator's PostEvent behind vCenter's privilege check (Global.LogEvent
// on the entity the event is about, the root folder when it names none).
func vcHandlePostEvent(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.PostEvent)
	em, ok := simulator.Map.Get(req.This).(*simulator.EventManager)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
	}
	if req.EventToPost == nil {
		return vcFault(&types.InvalidArgument{InvalidProperty: "eventToPost"}, "A specified parameter was not correct: eventToPost")
	}
	obj := vcRootFolder()
	e := req.EventToPost.GetEvent()
	switch {
	case e.Vm != nil:
		obj = e.Vm.Vm
	case e.Host != nil:
		obj = e.Host.Host
	case e.Ds != nil:
		obj = e.Ds.Datastore
	case e.ComputeResource != nil:
		obj = e.ComputeResource.ComputeResource
	case e.Datacenter != nil:
		obj = e.Datacenter.Datacenter
	}
	if denied := vcCheckPrivilege(ctx, "Global.LogEvent", obj); denied != nil {
		return denied
	}
	var res soap.HasFault
	simulator.Map.WithLock(em, func() { res = em.PostEvent(ctx, req) })
	return res
}
