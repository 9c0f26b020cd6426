package main

// A fabric is one FC switch (or a pair of switches in one zone set): every host's HBA cabled to fabric A
// and every array port 0 log in to it (fabric B: the HBAs cabled there and every port 1). vCenter has no
// object for it; a client infers it from which HBAs reach which target ports.
//
// POST /v1/fault/fabric {"fabric": "A", "state": "dead"}: the switch fails (powered off, or its ASIC):
// every port on it loses light, so on every host the HBAs cabled to it go link down, as a pulled cable
// does (status offline, port type unknown, speed 0: host_storage_system.go), the array ports on it
// vanish, and every path through the fabric is dead; the LUNs fail over to the other fabric's paths
// (vSphere Storage guide, "Understanding Multipathing and Failover": multipathing covers "HBA, switch
// or storage processor" failure; FC link loss on the host: the driver reports "link down" and the
// paths go dead). A rescan drops those paths (their targets are gone) and they come back when the
// fabric does, as for a cable pull. "ok" undoes it; the fabric state is independent of the hba and
// target faults (an HBA pulled during a fabric outage stays offline after it). Journaled like every
// fault (control.go).

import "fmt"

type fabric struct {
	port    int    // the array port number on it: 0 for A, 1 for B
	down    bool   // fault state: the switch failed
	reading string // operational state the fault gives the LUNs it degrades ("degraded" or "")
}

// fabric is the fabric of an array port number, made on first use. Caller builds the SAN (newSAN).
func (s *san) fabric(port int) *fabric {
	for len(s.fabrics) <= port {
		s.fabrics = append(s.fabrics, &fabric{port: len(s.fabrics)})
	}
	return s.fabrics[port]
}

// linkDown: the HBA has no light (its cable pulled, or its switch down).
func (hb *hba) linkDown() bool {
	return hb.dead || (hb.sw != nil && hb.sw.down)
}

// linkDown: the array port is gone from the fabric (the port died, or its switch).
func (t *target) linkDown() bool {
	return t.dead || (t.sw != nil && t.sw.down)
}

// faultFabric takes a fabric's switch down ("dead"/"offline") or brings it back ("ok"/"online").
func (l *Lab) faultFabric(name, state, reading string) error {
	s := l.san
	port, ok := fabricIndex(name)
	if !ok || port >= len(s.fabrics) {
		known := ""
		for i := range s.fabrics {
			known += map[bool]string{true: ", ", false: ""}[i > 0] + fabricName(i)
		}
		return notFound("unknown fabric '%s': the lab has fabrics %s", name, known)
	}
	var down bool
	switch state {
	case "dead", "offline":
		down = true
	case "ok", "online":
	default:
		return badRequest("fabric state must be dead or ok")
	}
	if err := readingArg(reading); err != nil {
		return err
	}
	f := s.fabrics[port]
	s.mu.Lock()
	f.down, f.reading = down, normalReading(reading)
	c := newChange()
	for _, h := range s.hosts {
		for _, hb := range h.hbas {
			if hb.sw == f {
				c.hosts[h] = true
				for _, d := range h.datastores {
					c.dss[d] = true
				}
			}
		}
	}
	for _, ln := range s.luns {
		for _, tg := range ln.array.targets {
			if tg.sw == f {
				c.lun(ln)
				break
			}
		}
	}
	for h := range c.hosts {
		s.rediscover(h)
	}
	l.commit(nil, c)
	return nil
}

// fabricsView is what GET /v1/topology says of the fabrics: name, state, the HBAs and ports on each.
func (s *san) fabricsView() []topoFabric {
	var out []topoFabric
	for _, f := range s.fabrics {
		tf := topoFabric{Name: fabricName(f.port), State: "ok", HBAs: []string{}, Targets: []string{}}
		if f.down {
			tf.State = "dead"
		}
		for _, h := range s.hosts {
			for _, hb := range h.hbas {
				if hb.sw == f {
					tf.HBAs = append(tf.HBAs, fmt.Sprintf("%s/%s", h.name, hb.device))
				}
			}
		}
		for _, t := range s.targets {
			if t.sw == f {
				tf.Targets = append(tf.Targets, t.name)
			}
		}
		out = append(out, tf)
	}
	return out
}

// topoFabric is one fabric in GET /v1/topology.
type topoFabric struct {
	Name    string   `json:"name"`
	State   string   `json:"state"`
	HBAs    []string `json:"hbas"`
	Targets []string `json:"targets"`
}
