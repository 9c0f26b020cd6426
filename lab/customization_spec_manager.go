package main

// CustomizationSpecManager: vCenter's store of guest customization specifications, and its
// compare-and-swap. vsguesttruth keeps its single-instance lease in one such spec
// (vsguesttruth/vcenter/lease.py), so the lab must keep them as vCenter does (vSphere Web Services
// API reference: CustomizationSpecManager, CustomizationSpecInfo):
//   - every change stamps the item's info.changeVersion anew (an opaque string; here an increasing
//     number) and info.lastUpdateTime;
//   - OverwriteCustomizationSpec applies the item only if the changeVersion it carries still matches
//     the stored one, else ConcurrentAccess ("the specification has changed since its retrieval");
//     an item without changeVersion overwrites unconditionally; an unknown name is NotFound;
//   - CreateCustomizationSpec: a name in use is AlreadyExists; the item's lastUpdateTime is ignored;
//   - GetCustomizationSpec / DeleteCustomizationSpec: an unknown name is NotFound;
//     DoesCustomizationSpecExist answers true or false;
//   - reading needs VirtualMachine.Provisioning.ReadCustSpecs, changing ModifyCustSpecs (root folder);
//   - the `info` property lists every spec's info and follows each change (published);
//   - the specs are vCenter's database: every change is journaled and survives a restart.
// The 0.24.2 simulator (and govmomi's newer one) never sets changeVersion, ignores it in
// OverwriteCustomizationSpec, has no DeleteCustomizationSpec and checks no privilege.
//
//	{"t":"customization_specs","names":["a"],"xml":"<x><item>...</item></x>"}   the whole list

import (
	"fmt"
	"strconv"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

func init() {
	vcInstallers = append(vcInstallers, vcInstallCustomizationSpecManager)
	vcCallFixes["GetCustomizationSpec"] = vcHandleGetCustomizationSpec
	vcCallFixes["DoesCustomizationSpecExist"] = vcHandleDoesCustomizationSpecExist
	vcCallFixes["CreateCustomizationSpec"] = vcHandleCreateCustomizationSpec
	vcCallFixes["OverwriteCustomizationSpec"] = vcHandleOverwriteCustomizationSpec
	vcCallFixes["DeleteCustomizationSpec"] = vcHandleDeleteCustomizationSpec
	registerJournal("customization_specs", func(l *Lab, e *journalEntry) error {
		var r struct {
			XML string `json:"xml"`
		}
		if err := e.decode(&r); err != nil {
			return err
		}
		var doc vcCustomizationSpecsDoc
		if err := vcXMLDecode(r.XML, &doc); err != nil {
			return err
		}
		m := vcSpecManager()
		if m == nil {
			return fmt.Errorf("the CustomizationSpecManager is not the lab's")
		}
		simulator.Map.WithLock(m, func() { m.replace(doc.Items, false) })
		return nil
	})
}

const (
	vcReadCustSpecs   = "VirtualMachine.Provisioning.ReadCustSpecs"
	vcModifyCustSpecs = "VirtualMachine.Provisioning.ModifyCustSpecs"
)

type vcCustomizationSpecsDoc struct {
	XMLName xml.Name                      `xml:"x"`
	Items   []types.CustomizationSpecItem `xml:"item"`
}

type vcCustomizationSpecManager struct {
	mo.CustomizationSpecManager // first field: the simulator's PropertyCollector reads it

	items   []types.CustomizationSpecItem
	version int64 // the last changeVersion given
}

// vcSpecManagerRef is the CustomizationSpecManager of the ServiceInstance (none on the ESX model).
func vcSpecManagerRef() (types.ManagedObjectReference, bool) {
	si, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance)
	if !ok || si.Content.CustomizationSpecManager == nil {
		return types.ManagedObjectReference{}, false
	}
	return *si.Content.CustomizationSpecManager, true
}

func vcInstallCustomizationSpecManager() {
	self, ok := vcSpecManagerRef()
	if !ok || vcSpecManager() != nil {
		return
	}
	m := &vcCustomizationSpecManager{}
	m.Self = self
	simulator.Map.Put(m)
	simulator.Map.WithLock(m, func() { m.replace(simulator.DefaultCustomizationSpec, false) })
}

func vcSpecManager() *vcCustomizationSpecManager {
	self, ok := vcSpecManagerRef()
	if !ok {
		return nil
	}
	m, _ := simulator.Map.Get(self).(*vcCustomizationSpecManager)
	return m
}

// replace puts a new list in place (a new slice: readers of the old one stay consistent), publishes
// `info` and, when journal is set, journals it. Called with m locked.
func (m *vcCustomizationSpecManager) replace(items []types.CustomizationSpecItem, journal bool) {
	list := append([]types.CustomizationSpecItem(nil), items...)
	info := make([]types.CustomizationSpecInfo, 0, len(list))
	for _, item := range list {
		info = append(info, item.Info)
		if v, err := strconv.ParseInt(item.Info.ChangeVersion, 10, 64); err == nil && v > m.version {
			m.version = v
		}
	}
	m.items = list
	simulator.Map.Update(m, []types.PropertyChange{{Name: "info", Val: info}})
	if journal {
		journalCustomizationSpecs(list)
	}
}

func (m *vcCustomizationSpecManager) find(name string) int {
	for i := range m.items {
		if m.items[i].Info.Name == name {
			return i
		}
	}
	return -1
}

// stamp gives an item a new changeVersion (never one given before, also across a restart: the
// replayed specs carry theirs) and its lastUpdateTime.
func (m *vcCustomizationSpecManager) stamp(item *types.CustomizationSpecItem) {
	next := time.Now().UnixNano()
	if next <= m.version {
		next = m.version + 1
	}
	m.version = next
	item.Info.ChangeVersion = strconv.FormatInt(next, 10)
	now := time.Now().UTC()
	item.Info.LastUpdateTime = &now
}

func vcNotFoundFault() soap.HasFault {
	return vcFault(&types.NotFound{}, "The object or item referred to could not be found.")
}

// vcWithSpecManager runs f on the lab's CustomizationSpecManager, locked, after the privilege check.
func vcWithSpecManager(ctx *simulator.Context, this types.ManagedObjectReference, privilege string, f func(m *vcCustomizationSpecManager) soap.HasFault) soap.HasFault {
	m, ok := simulator.Map.Get(this).(*vcCustomizationSpecManager)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: this}, fmt.Sprintf("managed object not found: %s", this))
	}
	if denied := vcCheckPrivilege(ctx, privilege, vcRootFolder()); denied != nil {
		return denied
	}
	var res soap.HasFault
	simulator.Map.WithLock(m, func() { res = f(m) })
	return res
}

func vcHandleGetCustomizationSpec(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.GetCustomizationSpec)
	return vcWithSpecManager(ctx, req.This, vcReadCustSpecs, func(m *vcCustomizationSpecManager) soap.HasFault {
		i := m.find(req.Name)
		if i < 0 {
			return vcNotFoundFault()
		}
		return &methods.GetCustomizationSpecBody{Res: &types.GetCustomizationSpecResponse{Returnval: m.items[i]}}
	})
}

func vcHandleDoesCustomizationSpecExist(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.DoesCustomizationSpecExist)
	return vcWithSpecManager(ctx, req.This, vcReadCustSpecs, func(m *vcCustomizationSpecManager) soap.HasFault {
		return &methods.DoesCustomizationSpecExistBody{Res: &types.DoesCustomizationSpecExistResponse{Returnval: m.find(req.Name) >= 0}}
	})
}

func vcHandleCreateCustomizationSpec(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.CreateCustomizationSpec)
	return vcWithSpecManager(ctx, req.This, vcModifyCustSpecs, func(m *vcCustomizationSpecManager) soap.HasFault {
		name := req.Item.Info.Name
		if name == "" {
			return vcFault(&types.InvalidArgument{InvalidProperty: "item.info.name"}, "A specified parameter was not correct: item.info.name")
		}
		if m.find(name) >= 0 {
			return vcFault(&types.AlreadyExists{Name: name}, fmt.Sprintf("The specified key, name, or identifier '%s' already exists.", name))
		}
		item := req.Item
		m.stamp(&item)
		m.replace(append(append([]types.CustomizationSpecItem(nil), m.items...), item), true)
		return &methods.CreateCustomizationSpecBody{Res: &types.CreateCustomizationSpecResponse{}}
	})
}

func vcHandleOverwriteCustomizationSpec(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.OverwriteCustomizationSpec)
	return vcWithSpecManager(ctx, req.This, vcModifyCustSpecs, func(m *vcCustomizationSpecManager) soap.HasFault {
		i := m.find(req.Item.Info.Name)
		if i < 0 {
			return vcNotFoundFault()
		}
		if want := req.Item.Info.ChangeVersion; want != "" && want != m.items[i].Info.ChangeVersion {
			return vcFault(&types.ConcurrentAccess{}, "Cannot complete operation due to concurrent modification by another operation.")
		}
		item := req.Item
		m.stamp(&item)
		list := append([]types.CustomizationSpecItem(nil), m.items...)
		list[i] = item
		m.replace(list, true)
		return &methods.OverwriteCustomizationSpecBody{Res: &types.OverwriteCustomizationSpecResponse{}}
	})
}

func vcHandleDeleteCustomizationSpec(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.DeleteCustomizationSpec)
	return vcWithSpecManager(ctx, req.This, vcModifyCustSpecs, func(m *vcCustomizationSpecManager) soap.HasFault {
		i := m.find(req.Name)
		if i < 0 {
			return vcNotFoundFault()
		}
		list := make([]types.CustomizationSpecItem, 0, len(m.items)-1)
		list = append(list, m.items[:i]...)
		list = append(list, m.items[i+1:]...)
		m.replace(list, true)
		return &methods.DeleteCustomizationSpecBody{Res: &types.DeleteCustomizationSpecResponse{}}
	})
}

func journalCustomizationSpecs(list []types.CustomizationSpecItem) {
	names := make([]string, 0, len(list))
	for _, item := range list {
		names = append(names, item.Info.Name)
	}
	journalList("customization_specs", "names", names, vcCustomizationSpecsDoc{Items: list})
}
