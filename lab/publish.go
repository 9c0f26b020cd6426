package main

// Publication: re-render what a change touched and publish it through the simulator's property-change
// mechanism (Map.Update), so WaitForUpdatesEx sees it; then post the events the hosts saw.
//
// Locking: san.mu guards the fault state and is held only while mutating and rendering. Publishing
// takes each simulator object's lock on its own (never nested inside san.mu, never two at once), so it
// cannot deadlock with SOAP calls, which hold their object's lock. Renders carry a sequence number:
// an object never goes back to an older render when two publishers race.

import (
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// change is what one fault touched: hosts whose storage to re-render, datastores whose mounts to
// re-render, hosts whose connection state to publish.
type change struct {
	hosts map[*host]bool
	dss   map[*datastore]bool
	conn  map[*host]bool
}

func newChange() *change {
	return &change{hosts: map[*host]bool{}, dss: map[*datastore]bool{}, conn: map[*host]bool{}}
}

func (c *change) lun(l *lun) {
	for _, h := range l.hosts {
		c.hosts[h] = true
	}
	if l.ds != nil {
		c.dss[l.ds] = true
	}
}

// commit renders and publishes a change. The caller has mutated the state under s.mu and still
// holds it; commit releases it.
func (l *Lab) commit(ctx *simulator.Context, c *change) {
	s := l.san
	for h := range c.hosts {
		l.touched.hosts[h] = true
	}
	for d := range c.dss {
		l.touched.dss[d] = true
	}
	for h := range c.conn {
		l.touched.conn[h] = true
	}
	type hr struct {
		h      *host
		r      *hostRender
		events []hostEvent
	}
	type dr struct {
		d *datastore
		r *dsRender
	}
	var hrs []hr
	var drs []dr
	conns := map[*host]string{}
	for _, h := range s.hosts { // model order: deterministic publication order
		if c.hosts[h] {
			l.syncAPD(h)
		}
	}
	for _, h := range s.hosts {
		// vCenter keeps the last values of a host that is not connected: nothing is published for it
		if c.hosts[h] && h.conn == "connected" {
			r := s.renderHost(h)
			hrs = append(hrs, hr{h, r, s.storageEvents(h, r.view)})
		}
		if c.conn[h] {
			conns[h] = h.conn
		}
	}
	for _, d := range s.datastores {
		if c.dss[d] {
			drs = append(drs, dr{d, s.renderDatastore(d)})
		}
	}
	s.mu.Unlock()
	for _, x := range hrs {
		l.publishHost(ctx, x.h, x.r, true)
	}
	for _, h := range s.hosts {
		if st, ok := conns[h]; ok {
			l.publishConn(ctx, h, st)
		}
	}
	for _, x := range drs {
		l.publishDatastore(ctx, x.d, x.r, true)
	}
	for _, x := range hrs {
		l.postHostEvents(x.h, x.events)
	}
}

// publishHost installs a host render on the HostSystem (config.storageDevice, config.multipathState,
// config.fileSystemVolume) and on its HostStorageSystem (storageDeviceInfo, multipathStateInfo,
// fileSystemVolumeInfo): the same data, as on a real host. Property changes are published at the
// leaf paths clients watch; a watcher of a parent path ("config.storageDevice", "config") is
// notified too, since the simulator matches a change against every watched prefix.
func (l *Lab) publishHost(ctx *simulator.Context, h *host, r *hostRender, notify bool) {
	hs := h.inv.mo
	withLock(ctx, hs, func() {
		if r.seq <= h.seq {
			return
		}
		h.seq = r.seq
		old := hs.Config
		cfg := *hs.Config // copy-on-write: responses being encoded keep the old config
		cfg.StorageDevice = r.sdi
		cfg.MultipathState = r.mps
		cfg.FileSystemVolume = r.fsv
		hs.Config = &cfg
		if notify {
			// vCenter reports the properties whose values changed, not every property of a host that changed
			var was *types.HostStorageDeviceInfo
			if old != nil {
				was = old.StorageDevice
			}
			changes := changed(nil, "config.storageDevice.hostBusAdapter", r.sdi.HostBusAdapter, hbasOf(was), was == nil)
			changes = changed(changes, "config.storageDevice.scsiLun", r.sdi.ScsiLun, lunsOf(was), was == nil)
			changes = changed(changes, "config.storageDevice.scsiTopology", r.sdi.ScsiTopology, topologyOf(was), was == nil)
			changes = changed(changes, "config.storageDevice.multipathInfo", r.sdi.MultipathInfo, multipathOf(was), was == nil)
			if old == nil || !reflect.DeepEqual(old.MultipathState, r.mps) {
				changes = append(changes, types.PropertyChange{Name: "config.multipathState", Val: r.mps})
			}
			if old == nil || !reflect.DeepEqual(old.FileSystemVolume, r.fsv) {
				changes = append(changes, types.PropertyChange{Name: "config.fileSystemVolume", Val: r.fsv})
			}
			if len(changes) > 0 {
				simulator.Map.Update(hs, changes)
			}
		}
	})
	ss := h.inv.ss
	withLock(ctx, ss, func() {
		if r.seq <= h.inv.ssSeq {
			return
		}
		h.inv.ssSeq = r.seq
		was, wasPaths, wasVolumes := ss.StorageDeviceInfo, ss.MultipathStateInfo, ss.FileSystemVolumeInfo
		sdi := *r.sdi
		ss.StorageDeviceInfo = &sdi
		ss.MultipathStateInfo = r.mps
		ss.FileSystemVolumeInfo = *r.fsv
		if notify {
			changes := changed(nil, "storageDeviceInfo.hostBusAdapter", sdi.HostBusAdapter, hbasOf(was), was == nil)
			changes = changed(changes, "storageDeviceInfo.scsiLun", sdi.ScsiLun, lunsOf(was), was == nil)
			changes = changed(changes, "storageDeviceInfo.scsiTopology", sdi.ScsiTopology, topologyOf(was), was == nil)
			changes = changed(changes, "storageDeviceInfo.multipathInfo", sdi.MultipathInfo, multipathOf(was), was == nil)
			if !reflect.DeepEqual(wasPaths, r.mps) {
				changes = append(changes, types.PropertyChange{Name: "multipathStateInfo", Val: r.mps})
			}
			if !reflect.DeepEqual(wasVolumes, *r.fsv) {
				changes = append(changes, types.PropertyChange{Name: "fileSystemVolumeInfo", Val: r.fsv})
			}
			if len(changes) > 0 {
				simulator.Map.Update(ss, changes)
			}
		}
	})
}

// publishDatastore installs datastore.host (every host that mounts it, with its mount state) and
// summary.accessible.
func (l *Lab) publishDatastore(ctx *simulator.Context, d *datastore, r *dsRender, notify bool) {
	ds := d.inv.mo
	withLock(ctx, ds, func() {
		if r.seq <= d.seq {
			return
		}
		d.seq = r.seq
		status := types.ManagedEntityStatusGreen
		if !r.accessible {
			status = types.ManagedEntityStatusRed
		}
		if !notify {
			ds.Host = r.mounts
			ds.Summary.Accessible = r.accessible
			return
		}
		var changes []types.PropertyChange // only what changed, as vCenter reports
		if !reflect.DeepEqual(ds.Host, r.mounts) {
			changes = append(changes, types.PropertyChange{Name: "host", Val: r.mounts})
		}
		if ds.Summary.Accessible != r.accessible {
			changes = append(changes, types.PropertyChange{Name: "summary.accessible", Val: r.accessible})
		}
		if ds.OverallStatus != status {
			// vCenter raises the datastore alarm: overall status red while inaccessible
			changes = append(changes, types.PropertyChange{Name: "overallStatus", Val: status})
		}
		ds.Host = r.mounts
		if len(changes) > 0 {
			simulator.Map.Update(ds, changes)
		}
	})
}

// changed appends the change of one property when its value differs from what it was (or nothing was).
func changed(changes []types.PropertyChange, name string, now, was interface{}, fresh bool) []types.PropertyChange {
	if fresh || !reflect.DeepEqual(now, was) {
		changes = append(changes, types.PropertyChange{Name: name, Val: now})
	}
	return changes
}

func hbasOf(d *types.HostStorageDeviceInfo) interface{} {
	if d == nil {
		return nil
	}
	return d.HostBusAdapter
}

func lunsOf(d *types.HostStorageDeviceInfo) interface{} {
	if d == nil {
		return nil
	}
	return d.ScsiLun
}

func topologyOf(d *types.HostStorageDeviceInfo) interface{} {
	if d == nil {
		return nil
	}
	return d.ScsiTopology
}

func multipathOf(d *types.HostStorageDeviceInfo) interface{} {
	if d == nil {
		return nil
	}
	return d.MultipathInfo
}
