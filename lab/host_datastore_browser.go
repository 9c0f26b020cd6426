package main

// HostDatastoreBrowser: browsing a datastore that no host can reach fails, as on vCenter.
//
// Every datastore has a browser (Datastore.browser), and every host one for the datastores it
// mounts (HostSystem.datastoreBrowser; the simulator left that reference pointing at an object it
// never made in a vCenter model). SearchDatastore_Task and SearchDatastoreSubFolders_Task read
// the datastore's files through a host. When the datastore is inaccessible (PDL, APD: no
// connected host reaches it, summary.accessible false; for a host's browser, that host's mount
// is inaccessible), the task fails with InaccessibleDatastore, the subclass of the InvalidDatastore
// fault the API reference lists for both methods for "the datastore ... isn't currently
// accessible". The simulator lists the folder on the lab's disk whatever the datastore's state.
//
// RefreshDatastore: the simulator resets capacity and free space to those of the lab's own file
// system (statfs of its folder); vCenter re-reads the volume, whose size the lab does not change,
// so the lab only renews info.timestamp.

import (
	"fmt"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vcCallFixes["SearchDatastore_Task"] = vcHandleSearchDatastore
	vcCallFixes["SearchDatastoreSubFolders_Task"] = vcHandleSearchDatastore
	vcCallFixes["RefreshDatastore"] = vcHandleRefreshDatastore
}

// newHostDatastoreBrowser makes a host's own browser over the datastores it mounts (inventory.go).
func newHostDatastoreBrowser(hs *simulator.HostSystem) types.ManagedObjectReference {
	b := &simulator.HostDatastoreBrowser{}
	b.Datastore = hs.Datastore
	return simulator.Map.Put(b).Reference()
}

func vcHandleSearchDatastore(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	var dsPath string
	switch req := method.Body.(type) {
	case *types.SearchDatastore_Task:
		dsPath = req.DatastorePath
	case *types.SearchDatastoreSubFolders_Task:
		dsPath = req.DatastorePath
	}
	b, ok := simulator.Map.Get(*ctx.Caller).(*simulator.HostDatastoreBrowser)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: *ctx.Caller}, "")
	}
	if ds := vcBrowsedDatastore(b, dsPath); ds != nil {
		if host, reachable := vcBrowserReaches(b, ds); !reachable {
			ref := ds.Self
			msg := fmt.Sprintf("Unable to access datastore '%s'.", ds.Name)
			detail := "no connected host can access it"
			if host != nil {
				detail = "not accessible on host " + host.Name
			}
			task := simulator.CreateTask(ds, "searchDatastore", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
				return nil, &types.InaccessibleDatastore{
					InvalidDatastore: types.InvalidDatastore{Datastore: &ref, Name: ds.Name}, Detail: detail}
			})
			name, description := method.Name, "HostDatastoreBrowser.search"
			if name == "SearchDatastoreSubFolders_Task" {
				description = "HostDatastoreBrowser.searchSubFolders"
			}
			vcSetTaskInfo(ctx, task, name, description, ds.Name)
			tref := task.Run()
			simulator.Map.Update(task, []types.PropertyChange{{Name: "info.error",
				Val: types.LocalizedMethodFault{Fault: task.Info.Error.Fault, LocalizedMessage: msg}}})
			if name == "SearchDatastore_Task" {
				return &methods.SearchDatastore_TaskBody{Res: &types.SearchDatastore_TaskResponse{Returnval: tref}}
			}
			return &methods.SearchDatastoreSubFolders_TaskBody{Res: &types.SearchDatastoreSubFolders_TaskResponse{Returnval: tref}}
		}
	}
	switch req := method.Body.(type) {
	case *types.SearchDatastore_Task:
		return b.SearchDatastoreTask(req)
	case *types.SearchDatastoreSubFolders_Task:
		return b.SearchDatastoreSubFoldersTask(req)
	}
	return vcFault(&types.InvalidRequest{}, "")
}

// vcBrowsedDatastore: the datastore a "[name] path" names among the browser's, nil if none (the
// simulator answers that case itself).
func vcBrowsedDatastore(b *simulator.HostDatastoreBrowser, dsPath string) *simulator.Datastore {
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		return nil
	}
	for _, ref := range b.Datastore {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == p.Datastore {
			return ds
		}
	}
	return nil
}

// vcBrowserReaches: whether the browser can read ds. A host's browser reads through that host (the
// host is returned); a datastore's browser through any connected host that can.
func vcBrowserReaches(b *simulator.HostDatastoreBrowser, ds *simulator.Datastore) (*simulator.HostSystem, bool) {
	for _, m := range ds.Host {
		h, ok := simulator.Map.Get(m.Key).(*simulator.HostSystem)
		if !ok || h.DatastoreBrowser != b.Self {
			continue
		}
		return h, vcConnected(h) && vcDatastoreUsable(ds, h)
	}
	return nil, ds.Summary.Accessible
}

func vcHandleRefreshDatastore(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	ds, ok := simulator.Map.Get(*ctx.Caller).(*simulator.Datastore)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: *ctx.Caller}, "")
	}
	now := time.Now()
	simulator.Map.WithLock(ds, func() {
		ds.Info.GetDatastoreInfo().Timestamp = &now
		simulator.Map.Update(ds, []types.PropertyChange{{Name: "info.timestamp", Val: now}})
	})
	return &methods.RefreshDatastoreBody{Res: &types.RefreshDatastoreResponse{}}
}
