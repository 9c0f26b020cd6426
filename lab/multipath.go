package main

// Native multipathing as ESXi reports it: which of a host's paths to a LUN are up, and which carry
// I/O (HostMultipathInfoPath.isWorkingPath, the vSphere Client's "Active (I/O)").
//
//   - ALUA (VMW_SATP_ALUA): the owning controller's target port group is active/optimized, the other
//     active/non-optimized (both report state "active") or, on an array that presents it so, standby.
//     When no active path is left on a host, the SATP activates the standby target port group: its
//     paths become active. A symmetric array (VMW_SATP_DEFAULT_AA) has every port optimized.
//   - Round Robin (VMW_PSP_RR) sends I/O down every active/optimized path, and down the
//     non-optimized ones only when no optimized path is left.
//   - Most Recently Used (VMW_PSP_MRU) uses one path and keeps it while it works; when it fails it
//     moves to another (an optimized one first) and does not move back when the first recovers; with
//     ALUA it does leave a non-optimized path as soon as an optimized one is available.
//   - Fixed (VMW_PSP_FIXED) uses the preferred path whenever it works (it fails back), another one
//     (an optimized one first) while it does not. The lab's preferred path is designated (the first
//     optimized path), as `esxcli storage nmp psp fixed deviceconfig set --path` does.
//
// (vSphere Storage, "Understanding Multipathing and Failover", "Path Selection Plug-ins and Policies",
// "Multipathing Considerations"; API reference HostMultipathInfoPath, HostMultipathInfoFixedLogicalUnitPolicy.)

// pathView is one path as the host reports it at one moment.
type pathView struct {
	p       *path
	state   string
	working bool // carries I/O under the LUN's path selection policy
}

// lunView returns the host's paths to l (those a rescan removed are gone) with their states and the
// ones that carry I/O. It advances the MRU choice. Caller holds s.mu.
func (s *san) lunView(h *host, l *lun) []pathView {
	var views []pathView
	for _, p := range h.lunPaths[l] {
		if !p.removed {
			views = append(views, pathView{p: p, state: p.state()})
		}
	}
	if l.array != nil && l.array.access == accessALUAStandby {
		active := false
		for _, v := range views {
			active = active || v.state == stateActive
		}
		if !active { // the SATP activates the standby target port group
			for i := range views {
				if views[i].state == stateStandby {
					views[i].state = stateActive
				}
			}
		}
	}
	usable := func(i int) bool { return views[i].state == stateActive }
	optimized := func(i int) bool { return views[i].p.optimized }
	pick := func() int { // an optimized path first, else any active one
		for i := range views {
			if usable(i) && optimized(i) {
				return i
			}
		}
		for i := range views {
			if usable(i) {
				return i
			}
		}
		return -1
	}
	switch l.psp {
	case pspRR:
		found := false
		for i := range views {
			if usable(i) && optimized(i) {
				views[i].working, found = true, true
			}
		}
		if !found {
			for i := range views {
				views[i].working = usable(i)
			}
		}
	case pspMRU:
		cur := -1
		for i := range views {
			if views[i].p == h.mru[l] && usable(i) {
				cur = i
			}
		}
		if cur < 0 || (!optimized(cur) && l.array != nil && l.array.access != accessActive) {
			cur = pick() // ALUA: an optimized path is better than the non-optimized one in use
		}
		if cur >= 0 {
			views[cur].working = true
			h.mru[l] = views[cur].p
		}
	default: // VMW_PSP_FIXED
		cur := -1
		for i := range views {
			if views[i].p == h.preferred[l] && usable(i) {
				cur = i
			}
		}
		if cur < 0 {
			cur = pick()
		}
		if cur >= 0 {
			views[cur].working = true
		}
	}
	return views
}

// upPaths counts the paths of a view that are up (active or standby): the host's path redundancy.
func upPaths(views []pathView) int {
	n := 0
	for _, v := range views {
		if working(v.state) {
			n++
		}
	}
	return n
}

// rescan drops the paths whose target the host no longer sees (its HBA's link is down, the array
// port is dead), as an adapter rescan does; a device without any working path keeps its paths
// (it stays in APD, listed with dead paths). Caller holds s.mu.
func (s *san) rescan(h *host, only *hba) {
	for _, hb := range h.hbas {
		for _, tg := range hb.targets {
			if (only == nil || hb == only) && (hb.linkDown() || tg.linkDown()) {
				h.goneTargets[tg.name+"/"+hb.device] = true
			}
		}
	}
	for _, l := range h.luns {
		views := s.lunView(h, l)
		if upPaths(views) == 0 {
			continue
		}
		for _, v := range views {
			if (only == nil || v.p.hba == only) && v.state == stateDead && v.p.targetGone() {
				v.p.removed = true
			}
		}
	}
}

// rediscover brings back removed paths whose target is visible again (the FC link came up, the
// port is back: the driver finds the target and ESXi claims the paths). Caller holds s.mu.
func (s *san) rediscover(h *host) {
	for _, hb := range h.hbas {
		for _, tg := range hb.targets {
			if !hb.linkDown() && !tg.linkDown() {
				delete(h.goneTargets, tg.name+"/"+hb.device)
			}
		}
	}
	for _, p := range h.paths {
		if p.removed && !p.targetGone() {
			p.removed = false
		}
	}
}
