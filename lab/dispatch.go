package main

// The SOAP methods the lab answers itself, and how a call reaches them.
//
// The simulator finds a method by reflection on the Go type of the object in its registry, and
// much of its code type-asserts *simulator.VirtualMachine, *simulator.EventManager and the other
// stock types, so those objects cannot be swapped for a type of ours. Instead withVCenterFixes
// wraps the /sdk endpoint: a SOAP request for a method in vcCallFixes (ReconfigVM_Task,
// MigrateVM_Task, CancelTask, LogUserEvent, the privilege queries, ...: each managed object's file
// adds its own in its init) is rewritten into a call of VsgtInvoke on a dispatcher object
// registered in simulator.Map; the simulator then authenticates the session and encodes the
// answer (or fault) exactly as for its own methods, and our handler runs with the caller's real
// *simulator.Context. Login is checked here, before the simulator sees it (session_manager.go).
// Managed objects that can be replaced by a type of ours (the ExtensionManager, the
// PropertyCollector) are put in the registry by vcInstallers, before the lab serves.
//
// installVCenterFixes runs after the inventory is built and before NewServer: it installs the
// objects and routes the SOAP paths through withVCenterFixes by registering them for the loopback
// host names and the listen host (a host-specific http.ServeMux pattern wins over the simulator's
// "/sdk"); main.go also wraps the server's handler, which covers clients that reach the lab under
// another host name. Everything here uses the global registry simulator.Map (0.24.2 has no
// per-model registry).
//
// withLatency (--latency-ms) delays every SOAP and Automation API call in front of all this, as a WAN link or a loaded
// vCenter would.

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
	"time"

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
		log.Print("dispatch: installed after the server was created: wrap its handler with withVCenterFixes")
		return
	}
	m.Service.RegisterEndpoints = true
	vcEndpointOnce.Do(func() { simulator.RegisterEndpoint(vcRegisterSDKRoutes) })
}

var (
	vcInstallOnce  sync.Once
	vcEndpointOnce sync.Once
)

// vcInstallers put the lab's own managed objects in the registry, or amend the simulator's (each
// managed object's file adds its own in its init).
var vcInstallers []func()

func vcInstallObjects() {
	vcInstallOnce.Do(func() {
		vcInstallDispatcher()
		for _, install := range vcInstallers {
			install()
		}
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

// vcCallFixes maps a SOAP method name to our handler (each managed object's file adds its own in its init).
var vcCallFixes = map[string]vcCallHandler{}

// vcLoginRewrites check the calls that open a session (no session yet, so no vcCallFixes): each
// returns the body the simulator gets, a refused one when the lab refuses the login
// (session_manager.go: Login; session_manager_clone.go: CloneSession).
var vcLoginRewrites = map[string]func(body []byte) []byte{"Login": vcCheckLogin}

type vcFixesHandler struct {
	next http.Handler
}

func (f *vcFixesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w = vcQuoteSessionCookie(w, r) // session_manager.go
	vcPbmSession(r)                // pbm.go
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
	if rewrite := vcLoginRewrites[name]; rewrite != nil { // logins the lab checks itself
		body = rewrite(body)
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
			log.Printf("dispatch: %s on %s panicked: %v", call.method.Name, this, p)
			res = vcFault(&types.SystemError{Reason: fmt.Sprint(p)}, fmt.Sprint(p))
		}
	}()
	return call.handler(ctx, call.method)
}

// vcFaultBody is a SOAP body carrying only a fault; good for any method.
type vcFaultBody struct {
	Fault_ *soap.Fault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *vcFaultBody) Fault() *soap.Fault { return b.Fault_ }

func vcFault(f types.BaseMethodFault, msg string) soap.HasFault {
	return &vcFaultBody{Fault_: simulator.Fault(msg, f)}
}

// --- --latency-ms ------------------------------------------------------------------------------

// withLatency adds d to every SOAP call (POST to the /sdk endpoint) and every Automation API call
// (any request under /api: JSON-RPC and the REST forms), before the call is served, as a WAN link or
// a loaded vCenter would (--latency-ms, for honest benchmarks: a client of either API pays the same
// round trip). Other paths (the control API if it shares the mux, /about, datastore file access)
// are not delayed. A client that
// gives up while waiting gets no answer, as with a real slow server. d <= 0 returns h unchanged.
func withLatency(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, simulator.Map.Path)) ||
			r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
