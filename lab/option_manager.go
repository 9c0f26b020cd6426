package main

// OptionManager of each host (HostSystem.configManager.advancedOption): the host's advanced settings.
// The simulator gave every host one OptionManager over a shared list (an UpdateOptions on one host
// changed them all) holding a single option. Each host has its own, with the options that decide how
// it handles storage faults (vSphere Storage, "Handling Transient APD Conditions", "Detecting PDL
// Conditions"), typed as ESXi types them (xsd:long) and declared in supportedOption (LongOption with
// their range and default):
//
//	Misc.APDTimeout         140   20..99999 seconds: how long a device in APD waits before APD timeout
//	Misc.APDHandlingEnable  1     0/1: without it there is no APD timeout (apd.go)
//	Disk.AutoremoveOnPDL    1     0/1: remove a PDL device once nothing holds it open (every LUN of the
//	                              lab is in use, a mounted VMFS or an RDM: it is never removed)
//
// QueryOptions(name): the options whose key starts with name (all for ""), InvalidName for none.
// UpdateOptions: unknown key InvalidName, wrong type or out of range InvalidArgument (nothing is
// changed then); the new values are published (setting) and journaled (the host's own settings
// survive a restart of vCenter). Changes need Host.Config.AdvancedConfig on the host.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// hostOptions are the values the SAN model acts on (guarded by san.mu).
type hostOptions struct {
	apdTimeout    int64
	apdHandling   bool
	autoremovePDL bool
}

func defaultHostOptions() hostOptions {
	return hostOptions{apdTimeout: 140, apdHandling: true, autoremovePDL: true}
}

// optionDef declares one option: its default and range.
type optionDef struct {
	key, label, summary string
	def, min, max       int64
}

var hostOptionDefs = []optionDef{
	{"Disk.AutoremoveOnPDL", "Autoremove on PDL", "Remove a device that is in PDL once no one holds it open", 1, 0, 1},
	{"Misc.APDHandlingEnable", "APD handling", "Handle All Paths Down: fast-fail non-VM I/O after Misc.APDTimeout", 1, 0, 1},
	{"Misc.APDTimeout", "APD timeout", "Seconds a device stays in All Paths Down before the APD timeout", 140, 20, 99999},
}

type labOptionManager struct {
	simulator.OptionManager // must stay the first field: the simulator digs the mo type out of it

	lab *Lab
	h   *host
}

func newHostOptionManager(l *Lab, h *host) *labOptionManager {
	m := &labOptionManager{lab: l, h: h}
	m.Self.Type = "OptionManager"
	m.Setting = hostSettings(defaultHostOptions())
	for _, d := range hostOptionDefs {
		m.SupportedOption = append(m.SupportedOption, types.OptionDef{
			ElementDescription: types.ElementDescription{Key: d.key, Description: types.Description{Label: d.label, Summary: d.summary}},
			OptionType:         &types.LongOption{Min: d.min, Max: d.max, DefaultValue: d.def},
		})
	}
	return m
}

// hostSettings is the setting list for these values (a new list each time: copy-on-write).
func hostSettings(o hostOptions) []types.BaseOptionValue {
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	return []types.BaseOptionValue{
		&types.OptionValue{Key: "Config.HostAgent.log.level", Value: "info"},
		&types.OptionValue{Key: "Disk.AutoremoveOnPDL", Value: b(o.autoremovePDL)},
		&types.OptionValue{Key: "Misc.APDHandlingEnable", Value: b(o.apdHandling)},
		&types.OptionValue{Key: "Misc.APDTimeout", Value: o.apdTimeout},
	}
}

func (m *labOptionManager) QueryOptions(ctx *simulator.Context, req *types.QueryOptions) soap.HasFault {
	body := &methods.QueryOptionsBody{}
	var out []types.BaseOptionValue
	for _, o := range m.Setting {
		if strings.HasPrefix(o.GetOptionValue().Key, req.Name) {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		body.Fault_ = simulator.Fault("", &types.InvalidName{Name: req.Name})
		return body
	}
	body.Res = &types.QueryOptionsResponse{Returnval: out}
	return body
}

func (m *labOptionManager) UpdateOptions(ctx *simulator.Context, req *types.UpdateOptions) soap.HasFault {
	body := &methods.UpdateOptionsBody{}
	if denied := vcCheckPrivilege(ctx, "Host.Config.AdvancedConfig", m.h.inv.ref); denied != nil {
		return denied
	}
	values := map[string]int64{}
	for _, c := range req.ChangedValue {
		ov := c.GetOptionValue()
		def := findOptionDef(ov.Key)
		if def == nil {
			if ov.Key == "Config.HostAgent.log.level" {
				continue // accepted as is
			}
			body.Fault_ = simulator.Fault("", &types.InvalidName{Name: ov.Key})
			return body
		}
		v, ok := optionLong(ov.Value)
		if !ok || v < def.min || v > def.max {
			body.Fault_ = simulator.Fault(fmt.Sprintf("A specified parameter was not correct: %s", ov.Key),
				&types.InvalidArgument{InvalidProperty: ov.Key})
			return body
		}
		values[ov.Key] = v
	}
	if fault := m.lab.hostUnreachable(m.h); fault != nil {
		body.Fault_ = fault
		return body
	}
	m.lab.setHostOptions(ctx, m.h, values)
	body.Res = &types.UpdateOptionsResponse{}
	return body
}

func findOptionDef(key string) *optionDef {
	for i := range hostOptionDefs {
		if hostOptionDefs[i].key == key {
			return &hostOptionDefs[i]
		}
	}
	return nil
}

// optionLong accepts the integer types a client may send for a long option.
func optionLong(v types.AnyType) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case int:
		return int64(x), true
	}
	return 0, false
}

// setHostOptions applies option values to the host's SAN state, publishes and journals them. ctx is
// the caller's when it holds the OptionManager's lock (UpdateOptions), else nil.
func (l *Lab) setHostOptions(ctx *simulator.Context, h *host, values map[string]int64) {
	s := l.san
	s.mu.Lock()
	o := h.opts
	for k, v := range values {
		switch k {
		case "Misc.APDTimeout":
			o.apdTimeout = v
		case "Misc.APDHandlingEnable":
			o.apdHandling = v == 1
		case "Disk.AutoremoveOnPDL":
			o.autoremovePDL = v == 1
		}
	}
	handling := o.apdHandling != h.opts.apdHandling
	h.opts = o
	if handling {
		l.setAPDHandling(h, o.apdHandling)
	}
	s.mu.Unlock()
	publishOptions(ctx, h, o)
	if len(values) > 0 {
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			vcJournal.write("host_option", map[string]interface{}{"host": h.name, "key": k, "value": values[k]})
		}
	}
}

func publishOptions(ctx *simulator.Context, h *host, o hostOptions) {
	m := h.inv.options
	withLock(ctx, m, func() {
		simulator.Map.Update(m, []types.PropertyChange{{Name: "setting", Val: hostSettings(o)}})
	})
}

// {"t":"host_option","host":"esx-a01","key":"Misc.APDTimeout","value":20}
func init() {
	registerJournal("host_option", func(l *Lab, e *journalEntry) error {
		var r struct {
			Host  string `json:"host"`
			Key   string `json:"key"`
			Value int64  `json:"value"`
		}
		if err := e.decode(&r); err != nil {
			return err
		}
		h, err := l.host(r.Host)
		if err != nil {
			return err
		}
		if findOptionDef(r.Key) == nil {
			return fmt.Errorf("unknown option %s", r.Key)
		}
		l.setHostOptions(nil, h, map[string]int64{r.Key: r.Value})
		return nil
	})
}
