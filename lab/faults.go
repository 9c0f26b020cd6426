package main

// Fault injection: change the fault state of the SAN model, then commit the change (publish.go), so
// WaitForUpdatesEx sees it.

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
	for _, f := range s.fabrics {
		f.down, f.reading = false, ""
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
