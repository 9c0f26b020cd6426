package main

// Our HostStorageSystem: the simulator's, put back in the registry under the same moref, plus the
// SOAP methods a multipath-aware client uses. Its data comes from the host's render (faults.go).
// Each of these methods needs Host.Config.Storage on the host (authorization_manager.go) and the host
// itself: vCenter refuses them while the host is disconnected (HostNotConnected) or not responding
// (HostNotReachable), host_system.go. A path disabled or enabled here is the host's own setting:
// journaled, it survives a restart of the lab's vCenter.
//
// A rescan (RescanAllHba, RescanHba) drops the paths whose target the host no longer sees (a pulled
// cable, a dead array port) unless the device has no working path left, and RefreshStorageSystem
// only re-reads: multipath.go.

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type labStorageSystem struct {
	simulator.HostStorageSystem // must stay the first field: the simulator digs the mo type out of it

	lab *Lab
	h   *host
}

// DisableMultipathPath: the path goes to state "disabled" (ESXi keeps it so until enabled again).
func (s *labStorageSystem) DisableMultipathPath(ctx *simulator.Context, req *types.DisableMultipathPath) soap.HasFault {
	if denied := s.denied(ctx); denied != nil {
		return denied
	}
	body := &methods.DisableMultipathPathBody{}
	if fault := s.lab.hostUnreachable(s.h); fault != nil {
		body.Fault_ = fault
		return body
	}
	if fault := s.lab.setPathFromSOAP(ctx, s.h, req.PathName, false); fault != nil {
		body.Fault_ = simulator.Fault(fmt.Sprintf("path %s: %T", req.PathName, fault), fault)
		return body
	}
	journalPathFromSOAP(s.h, req.PathName, false)
	body.Res = &types.DisableMultipathPathResponse{}
	return body
}

// EnableMultipathPath undoes DisableMultipathPath (a dead path stays dead).
func (s *labStorageSystem) EnableMultipathPath(ctx *simulator.Context, req *types.EnableMultipathPath) soap.HasFault {
	if denied := s.denied(ctx); denied != nil {
		return denied
	}
	body := &methods.EnableMultipathPathBody{}
	if fault := s.lab.hostUnreachable(s.h); fault != nil {
		body.Fault_ = fault
		return body
	}
	if fault := s.lab.setPathFromSOAP(ctx, s.h, req.PathName, true); fault != nil {
		body.Fault_ = simulator.Fault(fmt.Sprintf("path %s: %T", req.PathName, fault), fault)
		return body
	}
	journalPathFromSOAP(s.h, req.PathName, true)
	body.Res = &types.EnableMultipathPathResponse{}
	return body
}

// RefreshStorageSystem re-reads the host's storage: a re-publication of the current state.
func (s *labStorageSystem) RefreshStorageSystem(ctx *simulator.Context, _ *types.RefreshStorageSystem) soap.HasFault {
	if denied := s.denied(ctx); denied != nil {
		return denied
	}
	if fault := s.lab.hostUnreachable(s.h); fault != nil {
		return &methods.RefreshStorageSystemBody{Fault_: fault}
	}
	s.lab.republish(ctx, s.h, false, nil)
	return &methods.RefreshStorageSystemBody{Res: new(types.RefreshStorageSystemResponse)}
}

// RescanAllHba rescans every adapter; the simulator's version swaps in canned HBAs, ours keeps the
// host's own.
func (s *labStorageSystem) RescanAllHba(ctx *simulator.Context, _ *types.RescanAllHba) soap.HasFault {
	if denied := s.denied(ctx); denied != nil {
		return denied
	}
	if fault := s.lab.hostUnreachable(s.h); fault != nil {
		return &methods.RescanAllHbaBody{Fault_: fault}
	}
	s.lab.republish(ctx, s.h, true, nil)
	return &methods.RescanAllHbaBody{Res: new(types.RescanAllHbaResponse)}
}

// RescanHba rescans one adapter.
func (s *labStorageSystem) RescanHba(ctx *simulator.Context, req *types.RescanHba) soap.HasFault {
	if denied := s.denied(ctx); denied != nil {
		return denied
	}
	body := &methods.RescanHbaBody{}
	if fault := s.lab.hostUnreachable(s.h); fault != nil {
		body.Fault_ = fault
		return body
	}
	hb := s.h.hbaByName[req.HbaDevice]
	if hb == nil {
		body.Fault_ = simulator.Fault("unknown hba "+req.HbaDevice, &types.NotFound{})
		return body
	}
	s.lab.republish(ctx, s.h, true, hb)
	body.Res = new(types.RescanHbaResponse)
	return body
}

// RescanVmfs: volumes are static in the lab.
func (s *labStorageSystem) RescanVmfs(ctx *simulator.Context, _ *types.RescanVmfs) soap.HasFault {
	if denied := s.denied(ctx); denied != nil {
		return denied
	}
	if fault := s.lab.hostUnreachable(s.h); fault != nil {
		return &methods.RescanVmfsBody{Fault_: fault}
	}
	return &methods.RescanVmfsBody{Res: new(types.RescanVmfsResponse)}
}

// denied: these methods change the host's storage configuration (Host.Config.Storage on the host).
func (s *labStorageSystem) denied(ctx *simulator.Context) soap.HasFault {
	return vcCheckPrivilege(ctx, "Host.Config.Storage", s.h.inv.ref)
}

// A path state set over SOAP is journaled, and replayed with the same function:
//
//	{"t":"path_soap","host":"esx-a01","path":"vmhba2:C0:T0:L1","enable":false}
func init() {
	registerJournal("path_soap", func(l *Lab, e *journalEntry) error {
		var r struct {
			Host   string `json:"host"`
			Path   string `json:"path"`
			Enable bool   `json:"enable"`
		}
		if err := e.decode(&r); err != nil {
			return err
		}
		h, err := l.host(r.Host)
		if err != nil {
			return err
		}
		if f := l.setPathFromSOAP(nil, h, r.Path, r.Enable); f != nil {
			return fmt.Errorf("%s on %s: %T", r.Path, r.Host, f)
		}
		return nil
	})
}

func journalPathFromSOAP(h *host, path string, enable bool) {
	vcJournal.write("path_soap", map[string]interface{}{"host": h.name, "path": path, "enable": enable})
}
