package main

// Fault injection: change the fault state of the SAN model, re-render what changed, and publish it
// through the simulator's property-change mechanism (Map.Update), so WaitForUpdatesEx sees it.
//
// Locking: san.mu guards the fault state and is held only while mutating and rendering. Publishing
// takes each simulator object's lock on its own (never nested inside san.mu, never two at once), so it
// cannot deadlock with SOAP calls, which hold their object's lock. Renders carry a sequence number:
// an object never goes back to an older render when two publishers race.

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func notFound(format string, args ...interface{}) error {
	return &apiError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...interface{}) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func withLock(ctx *simulator.Context, obj mo.Reference, f func()) {
	if ctx != nil {
		ctx.WithLock(obj, f)
		return
	}
	simulator.Map.WithLock(obj, f)
}

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

// -- the faults ----------------------------------------------------------------------------------

var pathStates = []string{stateActive, stateStandby, stateDisabled, stateDead}

func (l *Lab) host(name string) (*host, error) {
	h := l.san.hostByName[name]
	if h == nil {
		return nil, notFound("unknown host '%s'", name)
	}
	return h, nil
}

// readingArg checks the operational_state a path, hba or target fault gives the LUNs it degrades.
func readingArg(reading string) error {
	if reading != "" && reading != opDegraded && reading != opOK {
		return badRequest("operational_state of a path, hba or target fault must be %s or %s", opDegraded, opOK)
	}
	return nil
}

func normalReading(reading string) string {
	if reading == opOK {
		return ""
	}
	return reading
}

// faultPath sets one path's state ("ok" or "restore" undoes an earlier override).
func (l *Lab) faultPath(ctx *simulator.Context, hostName, pathName, state, reading string) error {
	h, err := l.host(hostName)
	if err != nil {
		return err
	}
	p := h.pathByName[pathName]
	if p == nil {
		return notFound("unknown path '%s' on host '%s'", pathName, hostName)
	}
	if state != "ok" && state != "restore" && !contains(pathStates, state) {
		return badRequest("path state must be one of %s, or ok", strings.Join(pathStates, ", "))
	}
	if err := readingArg(reading); err != nil {
		return err
	}
	s := l.san
	s.mu.Lock()
	if state == "ok" || state == "restore" {
		p.override, p.reading = "", ""
	} else {
		p.override, p.reading = state, normalReading(reading)
	}
	c := newChange()
	c.hosts[h] = true
	if p.lun.ds != nil {
		c.dss[p.lun.ds] = true
	}
	l.commit(ctx, c)
	return nil
}

// faultHBA pulls the cable of an HBA (dead/offline) or plugs it back (ok/online).
func (l *Lab) faultHBA(hostName, hbaName, state, reading string) error {
	h, err := l.host(hostName)
	if err != nil {
		return err
	}
	hb := h.hbaByName[hbaName]
	if hb == nil {
		return notFound("unknown hba '%s' on host '%s'", hbaName, hostName)
	}
	var dead bool
	switch state {
	case "dead", "offline":
		dead = true
	case "ok", "online":
	default:
		return badRequest("hba state must be dead or ok")
	}
	if err := readingArg(reading); err != nil {
		return err
	}
	s := l.san
	s.mu.Lock()
	hb.dead, hb.reading = dead, normalReading(reading)
	s.rediscover(h)
	c := newChange()
	c.hosts[h] = true
	for _, d := range h.datastores {
		c.dss[d] = true
	}
	l.commit(nil, c)
	return nil
}

// faultTarget kills an array port (or the switch port in front of it) for every host.
func (l *Lab) faultTarget(name, state, reading string) error {
	s := l.san
	t := s.targetByName[name]
	if t == nil {
		return notFound("unknown target '%s'", name)
	}
	var dead bool
	switch state {
	case "dead", "offline":
		dead = true
	case "ok", "online":
	default:
		return badRequest("target state must be dead or ok")
	}
	if err := readingArg(reading); err != nil {
		return err
	}
	s.mu.Lock()
	t.dead, t.reading = dead, normalReading(reading)
	c := newChange()
	for _, l := range s.luns {
		if l.array == t.array {
			c.lun(l)
		}
	}
	for h := range c.hosts {
		s.rediscover(h)
	}
	l.commit(nil, c)
	return nil
}

// scsiLunStates is the API enum ScsiLunState: what a lun fault's operational_state may select.
var scsiLunStates = []string{"ok", "error", "off", "quiesced", "degraded", "lostCommunication", "timeout", "unknownState"}

// faultLun: pdl, apd, apd_timeout or ok (by name or canonical name); reading, when set, is the
// operational state every host reports for the LUN while the fault lasts.
func (l *Lab) faultLun(name, state, reading string) error {
	s := l.san
	ln := s.lunByName[name]
	if ln == nil {
		for _, x := range s.luns {
			if x.canonical == name {
				ln = x
			}
		}
	}
	if ln == nil {
		return notFound("unknown lun '%s'", name)
	}
	switch state {
	case lunOK, lunPDL, lunAPD, lunAPDTimeout:
	default:
		return badRequest("lun state must be one of pdl, apd, apd_timeout, ok")
	}
	if reading != "" && !contains(scsiLunStates, reading) {
		return badRequest("operational_state must be one of %s", strings.Join(scsiLunStates, ", "))
	}
	s.mu.Lock()
	ln.state, ln.reading = state, reading
	if state == lunOK {
		ln.reading = ""
	}
	c := newChange()
	c.lun(ln)
	l.commit(nil, c)
	return nil
}

// faultHost sets a host's connection state. vCenter keeps the last values it had of a host that is
// not connected; when the host is connected again its current state is published at once.
func (l *Lab) faultHost(name, state string) error {
	h, err := l.host(name)
	if err != nil {
		return err
	}
	switch state {
	case "connected", "disconnected", "notResponding":
	case "ok":
		state = "connected"
	default:
		return badRequest("host state must be one of disconnected, notResponding, connected")
	}
	s := l.san
	s.mu.Lock()
	h.conn = state
	c := newChange()
	c.conn[h] = true
	c.hosts[h] = true
	for _, d := range h.datastores {
		c.dss[d] = true
	}
	l.commit(nil, c)
	return nil
}

// restore puts every fault state back to the topology's initial state (and the hosts' advanced
// options, MRU path choices and triggered alarms) and republishes everything a fault touched since
// the last restore.
func (l *Lab) restore() {
	s := l.san
	s.mu.Lock()
	for _, t := range s.targets {
		t.dead, t.reading = false, ""
	}
	for _, ln := range s.luns {
		ln.state, ln.reading = lunOK, ""
	}
	s.stopAPDs()
	var optioned []*host
	for _, h := range s.hosts {
		h.conn = "connected"
		for _, hb := range h.hbas {
			hb.dead, hb.reading = false, ""
		}
		for _, p := range h.paths {
			p.override, p.reading, p.removed = "", "", false
		}
		h.goneTargets = map[string]bool{}
		h.mru = map[*lun]*path{}
		if h.opts != defaultHostOptions() {
			h.opts = defaultHostOptions()
			optioned = append(optioned, h)
		}
	}
	c := &change{hosts: l.touched.hosts, dss: l.touched.dss, conn: l.touched.conn}
	l.touched = newChange()
	l.commit(nil, c)
	for _, h := range optioned {
		publishOptions(nil, h, defaultHostOptions())
	}
	vcResetAlarms()
}

// setPathFromSOAP is DisableMultipathPath/EnableMultipathPath. The caller (a SOAP method of the
// host's storage system) holds the storage system's lock, hence ctx.
func (l *Lab) setPathFromSOAP(ctx *simulator.Context, h *host, name string, enable bool) types.BaseMethodFault {
	s := l.san
	p := h.pathByName[name]
	if p == nil {
		return &types.NotFound{}
	}
	s.mu.Lock()
	if enable {
		if p.override == stateDisabled {
			p.override = ""
		}
	} else if p.override == "" || p.override == stateActive || p.override == stateStandby {
		p.override = stateDisabled
	}
	c := newChange()
	c.hosts[h] = true
	if p.lun.ds != nil {
		c.dss[p.lun.ds] = true
	}
	l.commit(ctx, c)
	return nil
}

// republish re-renders one host (RefreshStorageSystem); rescan (RescanAllHba, RescanHba with the
// adapter) first drops the paths whose target is gone (multipath.go).
func (l *Lab) republish(ctx *simulator.Context, h *host, rescan bool, only *hba) {
	s := l.san
	s.mu.Lock()
	if rescan {
		s.rescan(h, only)
	}
	c := newChange()
	c.hosts[h] = true
	for _, d := range h.datastores {
		c.dss[d] = true
	}
	l.commit(ctx, c)
}
