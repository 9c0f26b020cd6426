package main

// vCenter behaviour the govmomi 0.24.2 simulator lacks or gets wrong, and that vsguesttruth relies on.
//
// HOW TO CALL (main.go):
//
//	func installVCenterFixes(ctx *simulator.Context, m *simulator.Model)
//	func withLatency(h http.Handler, d time.Duration) http.Handler
//
//	lab.buildInventory()                           // m.Create() + the SAN inventory
//	installVCenterFixes(lab.ctx, lab.model)        // BEFORE m.Service.NewServer(); ctx may be nil
//	srv := lab.model.Service.NewServer()
//	if d > 0 { srv.Config.Handler = withLatency(srv.Config.Handler, d) } // --latency-ms
//
// vcenter_wiring.go assigns these to main.go's hooks (vcenterFixes, latencyMiddleware), so with the
// current main.go nothing else is needed. installVCenterFixes is idempotent.
//
// Optional, recommended if you can: after NewServer also wrap the handler,
//
//	srv.Config.Handler = withVCenterFixes(srv.Config.Handler)
//
// installVCenterFixes (before NewServer) routes the SOAP paths through withVCenterFixes by
// registering them for the loopback host names and the listen host (a host-specific
// http.ServeMux pattern wins over the simulator's "/sdk"); the explicit wrap also covers clients
// that reach the lab under another host name. Doing both is harmless. If you call
// installVCenterFixes after NewServer, the explicit wrap is required for the call-level fixes.
// Everything here uses the global registry simulator.Map (0.24.2 has no per-model registry).
//
// What is fixed, and how:
//   - object level: ExtensionManager (vcenter_extension.go), Fetch of an unset property
//     (vcenter_fetch.go), event message templates (vcenter_events.go);
//   - call level: ReconfigVM_Task extraConfig (vcenter_extraconfig.go), MigrateVM_Task and
//     RelocateVM_Task (vcenter_migrate.go, task modes in vcenter_tasks.go), CancelTask
//     (vcenter_tasks.go), LogUserEvent, PostEvent and QueryEvents (vcenter_events.go), custom fields
//     (vcenter_customfields.go), the AuthorizationManager's privilege queries
//     (vcenter_privileges.go), Login (vcenter_sessions.go: checked here, before the simulator). The
//     simulator finds a method by reflection on the Go type of the object in its registry, and
//     much of its code type-asserts *simulator.VirtualMachine and *simulator.EventManager, so those
//     objects cannot be swapped for a type of ours. Instead withVCenterFixes rewrites such a SOAP
//     request into a call of our own method on a dispatcher object registered in simulator.Map;
//     the simulator then authenticates the session and encodes the answer (or fault) exactly as
//     for its own methods, and our handler runs with the caller's real *simulator.Context.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io/ioutil"
	"log"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// installVCenterFixes makes the simulator behave like vCenter where vsguesttruth depends on it.
// m is the model after Create() and after the lab's inventory is built; ctx is unused (may be nil).
func installVCenterFixes(ctx *simulator.Context, m *simulator.Model) {
	if m == nil || m.Service == nil {
		log.Panic("installVCenterFixes: call it after simulator.Model.Create()")
	}
	vcInstallObjects()
	if m.Service.ServeMux != nil {
		log.Print("vcenter fixes: installed after the server was created: wrap its handler with withVCenterFixes")
		return
	}
	m.Service.RegisterEndpoints = true
	vcEndpointOnce.Do(func() { simulator.RegisterEndpoint(vcRegisterSDKRoutes) })
}

var (
	vcInstallOnce  sync.Once
	vcEndpointOnce sync.Once
)

func vcInstallObjects() {
	vcInstallOnce.Do(func() {
		vcInstallDispatcher()
		vcInstallExtensionManager()
		vcInstallFetchFix()
		vcInstallEventFixes()
	})
}

// vcRegisterSDKRoutes runs inside NewServer (simulator.RegisterEndpoint): it routes the SOAP paths
// for the loopback names and the listen host through withVCenterFixes. ServeMux matches
// "host/path" patterns before "/path" ones (the port is ignored), so these win over "/sdk".
func vcRegisterSDKRoutes(s *simulator.Service, r *simulator.Registry) {
	h := withVCenterFixes(http.HandlerFunc(s.ServeSDK))
	hosts := []string{"127.0.0.1", "localhost", "::1"}
	if s.Listen != nil && s.Listen.Hostname() != "" {
		hosts = append(hosts, s.Listen.Hostname())
	}
	seen := map[string]bool{}
	for _, host := range hosts {
		if seen[host] {
			continue
		}
		seen[host] = true
		s.Handle(host+r.Path, h)
		s.Handle(host+r.Path+"/vimService", h)
	}
}

// withVCenterFixes wraps the simulator's HTTP handler: the SOAP methods in vcCallFixes are answered
// by our handlers, everything else goes to the simulator untouched.
func withVCenterFixes(h http.Handler) http.Handler {
	vcInstallObjects()
	if f, ok := h.(*vcFixesHandler); ok {
		return f
	}
	return &vcFixesHandler{next: h}
}

// vcCallHandler answers one decoded SOAP call. It runs inside the simulator's dispatch with the
// caller's context (session mapped, ctx.Caller set to method.This) and returns a methods.*Body.
type vcCallHandler func(ctx *simulator.Context, method *simulator.Method) soap.HasFault

// vcCallFixes maps a SOAP method name to our handler (filled by the vcenter_*.go files' init).
var vcCallFixes = map[string]vcCallHandler{}

type vcFixesHandler struct {
	next http.Handler
}

func (f *vcFixesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !vcIsSDKPath(r.URL.Path) {
		f.next.ServeHTTP(w, r)
		return
	}
	body, err := ioutil.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name := vcSOAPMethodName(body)
	if name == "Login" { // the lab's two logins (vcenter_sessions.go)
		body = vcCheckLogin(body)
		r.Body = ioutil.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		f.next.ServeHTTP(w, r)
		return
	}
	handler, ok := vcCallFixes[name]
	if ok && !vcHasSession(r) {
		// no session (never logged in, expired, from before a restart): the simulator answers
		// NotAuthenticated naming the object called, as vCenter does, not our dispatcher
		ok = false
	}
	if !ok {
		r.Body = ioutil.NopCloser(bytes.NewReader(body))
		f.next.ServeHTTP(w, r)
		return
	}
	method, err := simulator.UnmarshalBody(vcTypeFunc, body)
	if err != nil { // let the simulator produce its own decoding fault
		r.Body = ioutil.NopCloser(bytes.NewReader(body))
		f.next.ServeHTTP(w, r)
		return
	}
	token := vcDispatch.put(&vcPendingCall{method: method, handler: handler})
	defer vcDispatch.drop(token)

	invoke := []byte(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
		`<VsgtInvoke xmlns="urn:vim25"><_this type="` + vcDispatcherRef.Type + `">` + vcDispatcherRef.Value +
		`</_this><token>` + token + `</token></VsgtInvoke></soapenv:Body></soapenv:Envelope>`)
	r2 := r.Clone(r.Context())
	r2.Body = ioutil.NopCloser(bytes.NewReader(invoke))
	r2.ContentLength = int64(len(invoke))
	r2.Header.Set("Content-Length", strconv.Itoa(len(invoke)))
	f.next.ServeHTTP(w, r2)
}

func vcIsSDKPath(p string) bool {
	base := simulator.Map.Path // "/sdk"
	return p == base || p == base+"/vimService"
}

// vcSOAPMethodName returns the local name of the first element inside the SOAP Body, "" if none.
func vcSOAPMethodName(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if start, ok := tok.(xml.StartElement); ok {
			if inBody {
				return start.Name.Local
			}
			if start.Name.Local == "Body" {
				inBody = true
			}
		}
	}
}

var vcVimTypeFunc = types.TypeFunc()

// vcTypeFunc resolves vim25 type names, also when they carry a namespace prefix ("vim25:Foo").
func vcTypeFunc(name string) (reflect.Type, bool) {
	if t, ok := vcVimTypeFunc(name); ok {
		return t, true
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return vcVimTypeFunc(name[i+1:])
	}
	return nil, false
}

// --- the dispatcher: a managed object of ours, target of the rewritten requests ---------------

var vcDispatcherRef = types.ManagedObjectReference{Type: "VsgtDispatcher", Value: "vsgt-dispatcher"}

// vcInvokeRequest is the SOAP request the handler rewrites intercepted calls into.
type vcInvokeRequest struct {
	This  types.ManagedObjectReference `xml:"_this"`
	Token string                       `xml:"token"`
}

type vcPendingCall struct {
	method  *simulator.Method
	handler vcCallHandler
}

type vcDispatcher struct {
	mo.ExtensibleManagedObject // the simulator's registry wants an embedded mo type

	seq     uint64
	pending sync.Map // token -> *vcPendingCall
}

var vcDispatch = &vcDispatcher{}

// Lock and Unlock make the dispatcher a sync.Locker, so the simulator does not serialize all
// intercepted calls on it; each handler locks the objects it changes.
func (d *vcDispatcher) Lock()   {}
func (d *vcDispatcher) Unlock() {}

func (d *vcDispatcher) put(c *vcPendingCall) string {
	token := strconv.FormatUint(atomic.AddUint64(&d.seq, 1), 10)
	d.pending.Store(token, c)
	return token
}

func (d *vcDispatcher) drop(token string) { d.pending.Delete(token) }

func vcInstallDispatcher() {
	types.Add("VsgtInvoke", reflect.TypeOf((*vcInvokeRequest)(nil)).Elem())
	vcDispatch.Self = vcDispatcherRef
	simulator.Map.Put(vcDispatch)
}

// VsgtInvoke runs the intercepted call the token names, with the caller's context.
func (d *vcDispatcher) VsgtInvoke(ctx *simulator.Context, req *vcInvokeRequest) (res soap.HasFault) {
	v, ok := d.pending.Load(req.Token)
	if !ok {
		return vcFault(&types.InvalidRequest{}, "unknown call token")
	}
	d.pending.Delete(req.Token)
	call := v.(*vcPendingCall)
	this := call.method.This
	ctx.Caller = &this
	ctx.Header = call.method.Header

	obj := ctx.Map.Get(this)
	if ctx.Session != nil {
		if o := ctx.Session.Get(this); o != nil {
			obj = o
		}
	}
	if obj == nil {
		return vcFault(&types.ManagedObjectNotFound{Obj: this},
			fmt.Sprintf("managed object not found: %s", this))
	}
	if e, ok := obj.(mo.Entity); ok { // as the simulator's own dispatch does
		name := strings.Replace(strings.Title(call.method.Name), "_Task", "Task", 1)
		for _, dm := range e.Entity().DisabledMethod {
			if dm == name || dm == call.method.Name {
				return vcFault(&types.MethodDisabled{}, fmt.Sprintf("%s method is disabled: %s", this, call.method.Name))
			}
		}
	}
	defer func() {
		// vCenter answers an internal error with SystemError ("A general system error occurred"),
		// it does not drop the connection.
		if p := recover(); p != nil {
			log.Printf("vcenter fixes: %s on %s panicked: %v", call.method.Name, this, p)
			res = vcFault(&types.SystemError{Reason: fmt.Sprint(p)}, fmt.Sprint(p))
		}
	}()
	return call.handler(ctx, call.method)
}

// --- small helpers shared by the vcenter_*.go files --------------------------------------------

// vcFaultBody is a SOAP body carrying only a fault; good for any method.
type vcFaultBody struct {
	Fault_ *soap.Fault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *vcFaultBody) Fault() *soap.Fault { return b.Fault_ }

func vcFault(f types.BaseMethodFault, msg string) soap.HasFault {
	return &vcFaultBody{Fault_: simulator.Fault(msg, f)}
}

// vcEntity returns the registry object for ref as an mo.Entity, or nil.
func vcEntity(ref types.ManagedObjectReference) mo.Entity {
	e, _ := simulator.Map.Get(ref).(mo.Entity)
	return e
}

// vcAncestor walks up the inventory from ref and returns the first ancestor of the given type.
func vcAncestor(ref types.ManagedObjectReference, kind string) *types.ManagedObjectReference {
	for i := 0; i < 64; i++ {
		e := vcEntity(ref)
		if e == nil {
			return nil
		}
		parent := e.Entity().Parent
		if parent == nil {
			return nil
		}
		if parent.Type == kind {
			p := *parent
			return &p
		}
		ref = *parent
	}
	return nil
}

// vcName returns an entity's name ("" if unknown).
func vcName(ref types.ManagedObjectReference) string {
	if e := vcEntity(ref); e != nil {
		if n := e.Entity().Name; n != "" {
			return n
		}
	}
	switch x := simulator.Map.Get(ref).(type) {
	case *simulator.Datastore:
		return x.Name
	case *mo.Network:
		return x.Name
	}
	return ""
}

// vcSetTaskInfo gives a task the name and description id vCenter uses (the simulator derives
// its own from the Go method name) and the entity's display name.
func vcSetTaskInfo(task *simulator.Task, name, descriptionID, entityName string) {
	task.Info.Name = name
	task.Info.DescriptionId = descriptionID
	if entityName != "" {
		task.Info.EntityName = entityName
	}
}
