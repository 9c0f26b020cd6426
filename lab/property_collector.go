package main

// Reading an unset property. pyVmomi reads a managed object's property (`vm.snapshot`,
// `vm.parentVApp`, ...) with the internal Fetch method. vCenter answers an unset property with an
// empty FetchResponse, which pyVmomi turns into None. The 0.24.2 simulator instead indexes an empty
// MissingSet and panics, and the client sees the HTTP connection drop. We register a
// PropertyCollector type of ours, whose Fetch answers like vCenter: the value when set, nothing
// when unset, the simulator's InvalidProperty/NotAuthenticated fault in the MissingSet case. The
// simulator makes the per-session PropertyCollectors from the registered type (reflect.New), so
// every session gets this Fetch. vcenter_watch.go gives it vCenter's incremental WaitForUpdatesEx
// (and makes CreatePropertyCollector return one of ours); every other method is the simulator's own.

import (
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type vcPropertyCollector struct {
	simulator.PropertyCollector // first field, by value: the simulator walks field 0 to the mo type

	watch vcWatch // WaitForUpdatesEx state (vcenter_watch.go)
}

// FetchResponse is named like the vim25 type: the simulator names the response element after it.
type FetchResponse struct {
	Returnval types.AnyType `xml:"returnval,omitempty,typeattr"`
}

type vcFetchBody struct {
	Res    *FetchResponse `xml:"FetchResponse,omitempty"`
	Fault_ *soap.Fault    `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *vcFetchBody) Fault() *soap.Fault { return b.Fault_ }

func vcInstallFetchFix() {
	si, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance)
	if !ok {
		return
	}
	ref := si.Content.PropertyCollector
	switch simulator.Map.Get(ref).(type) {
	case *vcPropertyCollector:
		return
	case *simulator.PropertyCollector:
		pc := &vcPropertyCollector{}
		pc.Self = ref
		simulator.Map.Put(pc)
	}
}

// Fetch takes the simulator's internal Fetch request type (not importable, hence interface{};
// the dispatch passes it by reflection) with fields This and Prop.
func (pc *vcPropertyCollector) Fetch(ctx *simulator.Context, req interface{}) soap.HasFault {
	rv := reflect.ValueOf(req)
	if rv.Kind() == reflect.Ptr {
		rv = rv.Elem()
	}
	this, _ := rv.FieldByName("This").Interface().(types.ManagedObjectReference)
	prop, _ := rv.FieldByName("Prop").Interface().(string)

	if ctx.Map.Get(this) == nil || (this.Type == "ServiceInstance" && prop == "content") {
		// Supertype references ("ManagedEntity:vm-1") and ServiceInstance.content: the simulator's
		// own Fetch handles those (and does not panic on them).
		return pc.simulatorFetch(ctx, req)
	}

	res := pc.RetrievePropertiesEx(ctx, &types.RetrievePropertiesEx{
		SpecSet: []types.PropertyFilterSpec{{
			PropSet:   []types.PropertySpec{{Type: this.Type, PathSet: []string{prop}}},
			ObjectSet: []types.ObjectSpec{{Obj: this}},
		}},
	})
	if res.Fault() != nil {
		return res
	}
	body := &vcFetchBody{Res: &FetchResponse{}}
	ret := res.(*methods.RetrievePropertiesExBody).Res.Returnval
	if ret == nil || len(ret.Objects) == 0 {
		return body // unset
	}
	obj := ret.Objects[0]
	switch {
	case len(obj.PropSet) != 0:
		body.Res.Returnval = obj.PropSet[0].Val
	case len(obj.MissingSet) != 0:
		f := obj.MissingSet[0].Fault
		body.Res = nil
		body.Fault_ = simulator.Fault(f.LocalizedMessage, f.Fault)
	}
	return body
}

func (pc *vcPropertyCollector) simulatorFetch(ctx *simulator.Context, req interface{}) soap.HasFault {
	m := reflect.ValueOf(&pc.PropertyCollector).MethodByName("Fetch")
	out := m.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(req)})
	return out[0].Interface().(soap.HasFault)
}
