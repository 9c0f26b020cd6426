package main

// ExtensionManager: vCenter's registry of extensions (solutions and vSphere Client plugins). The
// 0.24.2 simulator advertises the ExtensionManager in ServiceContent but registers no object for it,
// so every call fails with ManagedObjectNotFound. vsguesttruth registers itself as an extension
// (`vsguesttruth install`), so the lab provides the vCenter behaviour:
//   - RegisterExtension adds the extension; a key already registered is InvalidArgument
//     (invalidProperty "extension.key"), as vCenter answers;
//   - FindExtension returns the extension, or nothing (unset) when the key is unknown;
//   - UpdateExtension replaces the extension with that key, NotFound when there is none;
//   - UnregisterExtension removes it, NotFound when there is none;
//   - SetExtensionCertificate accepts a certificate for a registered key (NotFound otherwise);
//   - the `extensionList` property follows every change and is published, so PropertyCollector
//     reads and WaitForUpdatesEx watchers see it.
// vCenter stamps lastHeartbeatTime itself when the client leaves it unset. Registering, updating and
// unregistering need Extension.Register / Extension.Update / Extension.Unregister (checked on the root
// folder, where vCenter's global privileges live; authorization_manager.go). The registry is vCenter's
// database: every change is journaled and survives a restart:
//
//	{"t":"extensions","keys":["com.example.a"],"xml":"<x><extension>...</extension></x>"}   the whole list

import (
	"fmt"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

func init() {
	vcInstallers = append(vcInstallers, vcInstallExtensionManager)
	registerJournal("extensions", func(l *Lab, e *journalEntry) error {
		var r struct {
			XML string `json:"xml"`
		}
		if err := e.decode(&r); err != nil {
			return err
		}
		var doc vcExtensionsDoc
		if err := vcXMLDecode(r.XML, &doc); err != nil {
			return err
		}
		return vcReplayExtensions(doc.Extensions)
	})
}

type vcExtensionsDoc struct {
	XMLName    xml.Name          `xml:"x"`
	Extensions []types.Extension `xml:"extension"`
}

type vcExtensionManager struct {
	mo.ExtensionManager // first field: the simulator's PropertyCollector reads it
}

func vcInstallExtensionManager() {
	ref := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"})
	si, ok := ref.(*simulator.ServiceInstance)
	if !ok || si.Content.ExtensionManager == nil {
		return // ESX model: no ExtensionManager, as on a real host
	}
	self := *si.Content.ExtensionManager
	if _, done := simulator.Map.Get(self).(*vcExtensionManager); done {
		return
	}
	m := &vcExtensionManager{}
	m.Self = self
	if old, ok := simulator.Map.Get(self).(*mo.ExtensionManager); ok {
		m.ExtensionList = old.ExtensionList
	}
	simulator.Map.Put(m)
}

// publish replaces the list (a new slice: readers holding the old one stay consistent) and
// tells the PropertyCollector. Called with m locked by the simulator's dispatch.
func (m *vcExtensionManager) publish(list []types.Extension) {
	simulator.Map.Update(m, []types.PropertyChange{{Name: "extensionList", Val: list}})
	journalExtensions(list)
}

// vcReplayExtensions puts back a journaled extension list.
func vcReplayExtensions(list []types.Extension) error {
	ref := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"})
	si, ok := ref.(*simulator.ServiceInstance)
	if !ok || si.Content.ExtensionManager == nil {
		return fmt.Errorf("no ExtensionManager")
	}
	m, ok := simulator.Map.Get(*si.Content.ExtensionManager).(*vcExtensionManager)
	if !ok {
		return fmt.Errorf("the ExtensionManager is not the lab's")
	}
	if list == nil {
		list = []types.Extension{}
	}
	simulator.Map.WithLock(m, func() { m.publish(list) })
	return nil
}

func (m *vcExtensionManager) find(key string) int {
	for i := range m.ExtensionList {
		if m.ExtensionList[i].Key == key {
			return i
		}
	}
	return -1
}

func (m *vcExtensionManager) RegisterExtension(ctx *simulator.Context, req *types.RegisterExtension) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "Extension.Register", vcRootFolder()); denied != nil {
		return denied
	}
	ext := req.Extension
	if ext.Key == "" || m.find(ext.Key) >= 0 {
		return vcFault(&types.InvalidArgument{InvalidProperty: "extension.key"},
			"A specified parameter was not correct: extension.key")
	}
	if ext.LastHeartbeatTime.IsZero() {
		ext.LastHeartbeatTime = time.Now().UTC()
	}
	list := append(append([]types.Extension{}, m.ExtensionList...), ext)
	m.publish(list)
	return &methods.RegisterExtensionBody{Res: &types.RegisterExtensionResponse{}}
}

func (m *vcExtensionManager) FindExtension(ctx *simulator.Context, req *types.FindExtension) soap.HasFault {
	res := &types.FindExtensionResponse{}
	if i := m.find(req.ExtensionKey); i >= 0 {
		ext := m.ExtensionList[i]
		res.Returnval = &ext
	}
	return &methods.FindExtensionBody{Res: res}
}

func (m *vcExtensionManager) UpdateExtension(ctx *simulator.Context, req *types.UpdateExtension) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "Extension.Update", vcRootFolder()); denied != nil {
		return denied
	}
	i := m.find(req.Extension.Key)
	if i < 0 {
		return vcFault(&types.NotFound{}, "The object or item referred to could not be found.")
	}
	ext := req.Extension
	if ext.LastHeartbeatTime.IsZero() {
		ext.LastHeartbeatTime = time.Now().UTC()
	}
	list := append([]types.Extension{}, m.ExtensionList...)
	list[i] = ext
	m.publish(list)
	return &methods.UpdateExtensionBody{Res: &types.UpdateExtensionResponse{}}
}

func (m *vcExtensionManager) UnregisterExtension(ctx *simulator.Context, req *types.UnregisterExtension) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "Extension.Unregister", vcRootFolder()); denied != nil {
		return denied
	}
	i := m.find(req.ExtensionKey)
	if i < 0 {
		return vcFault(&types.NotFound{}, "The object or item referred to could not be found.")
	}
	list := make([]types.Extension, 0, len(m.ExtensionList)-1)
	list = append(list, m.ExtensionList[:i]...)
	list = append(list, m.ExtensionList[i+1:]...)
	m.publish(list)
	return &methods.UnregisterExtensionBody{Res: &types.UnregisterExtensionResponse{}}
}

func (m *vcExtensionManager) SetExtensionCertificate(ctx *simulator.Context, req *types.SetExtensionCertificate) soap.HasFault {
	if denied := vcCheckPrivilege(ctx, "Extension.Update", vcRootFolder()); denied != nil {
		return denied
	}
	if m.find(req.ExtensionKey) < 0 {
		return vcFault(&types.NotFound{}, "The object or item referred to could not be found.")
	}
	return &methods.SetExtensionCertificateBody{Res: &types.SetExtensionCertificateResponse{}}
}

func journalExtensions(list []types.Extension) {
	keys := make([]string, 0, len(list))
	for _, e := range list {
		keys = append(keys, e.Key)
	}
	journalList("extensions", "keys", keys, vcExtensionsDoc{Extensions: list})
}
