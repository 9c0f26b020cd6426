package main

// All Paths Down, per host and device, as ESXi handles it (vSphere Storage, "Handling Transient APD
// Conditions", "Change Timeout Limits for Storage APD", "Disable Storage APD Handling"):
//   - a device enters APD on a host when no path to it works and it reported no PDL sense code: the
//     host's mounts of its datastores say AllPathsDown_Start, the host posts esx.problem.storage.apd.start;
//   - the host then starts a timer of Misc.APDTimeout seconds (default 140), read at that moment: a
//     later change "does not take effect for that particular APD incident";
//   - when it ends the device is in APD timeout: mounts AllPathsDown_Timeout, the operational state
//     "Dead or Error" (ScsiLunState error), esx.problem.storage.apd.timeout;
//   - with Misc.APDHandlingEnable = 0 there is no timer; enabling it again "turns on immediately and the
//     timer starts with the current timeout value for each device in APD";
//   - a working path ends the APD (esx.clear.storage.apd.exit).
// The control API's lun fault apd_timeout puts every host's APD for the LUN past its timeout at once.
// A timeout is journaled: the host does not go back to the start of its APD when vCenter restarts.

import (
	"fmt"
	"time"
)

type apdState struct {
	start    time.Time
	timeout  int64 // seconds: Misc.APDTimeout when the APD started
	timedOut bool
	timer    *time.Timer
}

// deviceDown: the host has no working path left to the device and no PDL was reported.
func (s *san) deviceDown(h *host, l *lun) bool {
	if l.state == lunPDL {
		return false
	}
	return upPaths(s.lunView(h, l)) == 0
}

// syncAPD starts and ends the host's APDs after its paths changed. Caller holds s.mu.
func (l *Lab) syncAPD(h *host) {
	s := l.san
	for _, ln := range h.luns {
		e := h.apd[ln]
		if !s.deviceDown(h, ln) {
			if e != nil {
				e.stop()
				delete(h.apd, ln)
			}
			continue
		}
		if e == nil {
			e = &apdState{start: time.Now(), timeout: h.opts.apdTimeout}
			h.apd[ln] = e
			if h.opts.apdHandling && ln.state != lunAPDTimeout {
				l.armAPD(h, ln, e)
			}
		}
		if ln.state == lunAPDTimeout && !e.timedOut {
			e.stop()
			e.timedOut = true
		}
	}
}

// armAPD starts the timer of an APD; its end is the APD timeout. Caller holds s.mu.
func (l *Lab) armAPD(h *host, ln *lun, e *apdState) {
	e.stop()
	e.timer = time.AfterFunc(time.Duration(e.timeout)*time.Second, func() { l.apdTimedOut(h, ln, e) })
}

func (e *apdState) stop() {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
}

func (l *Lab) apdTimedOut(h *host, ln *lun, e *apdState) {
	s := l.san
	s.mu.Lock()
	if h.apd[ln] != e || e.timedOut {
		s.mu.Unlock()
		return
	}
	e.timedOut = true
	e.timer = nil
	vcJournal.write("apd_timeout", map[string]interface{}{"host": h.name, "lun": ln.canonical})
	c := newChange()
	c.hosts[h] = true
	if ln.ds != nil {
		c.dss[ln.ds] = true
	}
	l.commit(nil, c)
}

// setAPDHandling follows Misc.APDHandlingEnable: off stops the timers, on starts one with the current
// Misc.APDTimeout for each device in APD. Caller holds s.mu.
func (l *Lab) setAPDHandling(h *host, on bool) {
	for ln, e := range h.apd {
		if e.timedOut {
			continue
		}
		if !on {
			e.stop()
		} else if e.timer == nil {
			e.start, e.timeout = time.Now(), h.opts.apdTimeout
			l.armAPD(h, ln, e)
		}
	}
}

// apdPhase: 0 no APD, 1 APD, 2 APD timed out, for the host's view of the device.
func (h *host) apdPhase(ln *lun) int {
	e := h.apd[ln]
	switch {
	case e == nil:
		return 0
	case e.timedOut:
		return 2
	}
	return 1
}

// stopAPDs stops every timer (restore: the APDs end with the faults).
func (s *san) stopAPDs() {
	for _, h := range s.hosts {
		for _, e := range h.apd {
			e.stop()
		}
	}
}

// {"t":"apd_timeout","host":"esx-a01","lun":"naa..."}   an APD that timed out stays timed out
func init() {
	registerJournal("apd_timeout", func(l *Lab, e *journalEntry) error {
		var r struct {
			Host string `json:"host"`
			Lun  string `json:"lun"`
		}
		if err := e.decode(&r); err != nil {
			return err
		}
		h, err := l.host(r.Host)
		if err != nil {
			return err
		}
		s := l.san
		s.mu.Lock()
		for ln, a := range h.apd {
			if ln.canonical == r.Lun && !a.timedOut {
				a.stop()
				a.timedOut = true
				c := newChange()
				c.hosts[h] = true
				if ln.ds != nil {
					c.dss[ln.ds] = true
				}
				l.commit(nil, c)
				return nil
			}
		}
		s.mu.Unlock()
		return fmt.Errorf("%s is not in APD on %s", r.Lun, r.Host)
	})
}
