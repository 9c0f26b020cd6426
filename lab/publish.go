package main

// Publication: re-render what a change touched and publish it through the simulator's property-change
// mechanism (Map.Update), so WaitForUpdatesEx sees it; then post the events the hosts saw.
//
// Locking: san.mu guards the fault state and is held only while mutating and rendering. Publishing
// takes each simulator object's lock on its own (never nested inside san.mu, never two at once), so it
// cannot deadlock with SOAP calls, which hold their object's lock. Renders carry a sequence number:
// an object never goes back to an older render when two publishers race.

import (
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
		cfg := *hs.Config // copy-on-write: responses being encoded keep the old config
		cfg.StorageDevice = r.sdi
		cfg.MultipathState = r.mps
		cfg.FileSystemVolume = r.fsv
		hs.Config = &cfg
		if notify {
			simulator.Map.Update(hs, []types.PropertyChange{
				{Name: "config.storageDevice.hostBusAdapter", Val: r.sdi.HostBusAdapter},
				{Name: "config.storageDevice.scsiLun", Val: r.sdi.ScsiLun},
				{Name: "config.storageDevice.scsiTopology", Val: r.sdi.ScsiTopology},
				{Name: "config.storageDevice.multipathInfo", Val: r.sdi.MultipathInfo},
				{Name: "config.multipathState", Val: r.mps},
				{Name: "config.fileSystemVolume", Val: r.fsv},
			})
		}
	})
	ss := h.inv.ss
	withLock(ctx, ss, func() {
		if r.seq <= h.inv.ssSeq {
			return
		}
		h.inv.ssSeq = r.seq
		sdi := *r.sdi
		ss.StorageDeviceInfo = &sdi
		ss.MultipathStateInfo = r.mps
		ss.FileSystemVolumeInfo = *r.fsv
		if notify {
			simulator.Map.Update(ss, []types.PropertyChange{
				{Name: "storageDeviceInfo.hostBusAdapter", Val: sdi.HostBusAdapter},
				{Name: "storageDeviceInfo.scsiLun", Val: sdi.ScsiLun},
				{Name: "storageDeviceInfo.scsiTopology", Val: sdi.ScsiTopology},
				{Name: "storageDeviceInfo.multipathInfo", Val: sdi.MultipathInfo},
				{Name: "multipathStateInfo", Val: r.mps},
				{Name: "fileSystemVolumeInfo", Val: r.fsv},
			})
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
		changes := []types.PropertyChange{{Name: "host", Val: r.mounts}}
		if ds.Summary.Accessible != r.accessible {
			changes = append(changes, types.PropertyChange{Name: "summary.accessible", Val: r.accessible})
		}
		if ds.OverallStatus != status {
			// vCenter raises the datastore alarm: overall status red while inaccessible
			changes = append(changes, types.PropertyChange{Name: "overallStatus", Val: status})
		}
		simulator.Map.Update(ds, changes)
	})
}
