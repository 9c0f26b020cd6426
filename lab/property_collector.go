package main

// PropertyCollector: a type of ours (vcPropertyCollector) for the ServiceInstance's collector. The
// simulator makes the per-session PropertyCollectors from the registered type (reflect.New), and
// CreatePropertyCollector makes ours too, so every collector a client uses gets what follows; every
// other method is the simulator's own. property_collector_updates.go gives it vCenter's incremental
// WaitForUpdatesEx.
//
// Reading an unset property. pyVmomi reads a managed object's property (`vm.snapshot`,
// `vm.parentVApp`, ...) with the internal Fetch method. vCenter answers an unset property with an
// empty FetchResponse, which pyVmomi turns into None. The 0.24.2 simulator instead indexes an empty
// MissingSet and panics, and the client sees the HTTP connection drop. Our Fetch answers like
// vCenter: the value when set, nothing when unset, the simulator's InvalidProperty/NotAuthenticated
// fault in the MissingSet case.
//
// Paged RetrievePropertiesEx. vCenter returns at most RetrieveOptions.maxObjects objects per call
// (and fewer when it likes), with a token for ContinueRetrievePropertiesEx; CancelRetrievePropertiesEx
// drops the rest. The 0.24.2 simulator ignores maxObjects, always answers in one page, and has no
// ContinueRetrievePropertiesEx (MethodNotFound). A client that never pages works with the simulator
// and breaks on a real vCenter; and one huge page also hides a client's memory use. So the lab pages
// like vCenter: the full result is collected once, the rest is kept under a token.

import (
	"crypto/rand"
	"encoding/hex"
	"reflect"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type vcPropertyCollector struct {
	simulator.PropertyCollector // first field, by value: the simulator walks field 0 to the mo type

	watch vcWatch // WaitForUpdatesEx state (property_collector_updates.go)
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

func init() {
	vcInstallers = append(vcInstallers, vcInstallFetchFix)
}

// vcInstallFetchFix puts one of ours in place of the ServiceInstance's PropertyCollector.
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
		res := pc.simulatorFetch(ctx, req)
		if this.Type == "ServiceInstance" {
			vcContentHealthUpdateManager(res)
		}
		return res
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

// vcContentHealthUpdateManager puts back ServiceContent.healthUpdateManager, which vCenter names
// (health_update_manager.go) and the simulator's Fetch leaves out for ovftool's API 6.0.
func vcContentHealthUpdateManager(res soap.HasFault) {
	rv := reflect.ValueOf(res)
	if rv.Kind() != reflect.Ptr || rv.Elem().Kind() != reflect.Struct {
		return
	}
	r := rv.Elem().FieldByName("Res")
	if !r.IsValid() || r.Kind() != reflect.Ptr || r.IsNil() {
		return
	}
	ret := r.Elem().FieldByName("Returnval")
	content, ok := ret.Interface().(types.ServiceContent)
	si, found := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance)
	if !ok || !found || !ret.CanSet() {
		return
	}
	content.HealthUpdateManager = si.Content.HealthUpdateManager
	ret.Set(reflect.ValueOf(content))
}

func (pc *vcPropertyCollector) simulatorFetch(ctx *simulator.Context, req interface{}) soap.HasFault {
	m := reflect.ValueOf(&pc.PropertyCollector).MethodByName("Fetch")
	out := m.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(req)})
	return out[0].Interface().(soap.HasFault)
}

// --- paged RetrievePropertiesEx ---------------------------------------------------------------

// vcMaxPage is vCenter's own cap on a page, whatever maxObjects asks for.
const vcMaxPage = 1000

type retrievePage struct {
	objects []types.ObjectContent
	size    int
}

var retrievePages = struct {
	sync.Mutex
	byToken map[string]retrievePage
}{byToken: map[string]retrievePage{}}

func newRetrieveToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// nextPage cuts a page off objects; what is left goes under a new token.
func nextPage(objects []types.ObjectContent, size int) *types.RetrieveResult {
	result := &types.RetrieveResult{Objects: objects}
	if len(objects) <= size {
		return result
	}
	token := newRetrieveToken()
	retrievePages.Lock()
	retrievePages.byToken[token] = retrievePage{objects: objects[size:], size: size}
	retrievePages.Unlock()
	result.Objects = objects[:size]
	result.Token = token
	return result
}

func (pc *vcPropertyCollector) RetrievePropertiesEx(ctx *simulator.Context, r *types.RetrievePropertiesEx) soap.HasFault {
	body := pc.PropertyCollector.RetrievePropertiesEx(ctx, r)
	res, ok := body.(*methods.RetrievePropertiesExBody)
	if !ok || res.Res == nil || res.Res.Returnval == nil {
		return body
	}
	size := vcMaxPage
	if max := r.Options.MaxObjects; max > 0 && int(max) < size {
		size = int(max)
	}
	res.Res.Returnval = nextPage(res.Res.Returnval.Objects, size)
	return res
}

func (pc *vcPropertyCollector) ContinueRetrievePropertiesEx(ctx *simulator.Context, r *types.ContinueRetrievePropertiesEx) soap.HasFault {
	body := &methods.ContinueRetrievePropertiesExBody{}
	retrievePages.Lock()
	page, ok := retrievePages.byToken[r.Token]
	delete(retrievePages.byToken, r.Token)
	retrievePages.Unlock()
	if !ok {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "token"})
		return body
	}
	body.Res = &types.ContinueRetrievePropertiesExResponse{Returnval: *nextPage(page.objects, page.size)}
	return body
}

func (pc *vcPropertyCollector) CancelRetrievePropertiesEx(ctx *simulator.Context, r *types.CancelRetrievePropertiesEx) soap.HasFault {
	retrievePages.Lock()
	delete(retrievePages.byToken, r.Token)
	retrievePages.Unlock()
	return &methods.CancelRetrievePropertiesExBody{Res: &types.CancelRetrievePropertiesExResponse{}}
}
