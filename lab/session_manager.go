package main

// Sessions: two logins, and sessions that end.
//
// Logins. vCenter authenticates many users, each with a role. The simulator accepts one user name and
// password (or any, with its default login). The lab lets the simulator accept any non-empty login and
// checks the credentials itself before the simulator sees a Login: the administrator
// (--username/--password) and the read-only user (--readonly-user NAME:PASSWORD) log in, with their
// own user names in the session (UserSession.userName, events' userName); anything else is
// InvalidLogin ("Login failure"), as on vCenter. What each may do: authorization_manager.go.
//
// Session end. vCenter ends a session when it stays idle past its timeout or when an administrator
// terminates it (SessionManager.TerminateSession, the vSphere Client's "Sessions" view); vCenter
// logs a UserLogoutSessionEvent for it, and the next call with its cookie fails with
// NotAuthenticated. POST /v1/sessions/expire ends every session that way at once; a WaitForUpdatesEx
// of an ended session in progress ends with NotAuthenticated too, and the session's property
// collectors stop collecting (property_collector_updates.go).

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var vcLogins struct {
	adminUser, adminPassword       string
	readonlyUser, readonlyPassword string
}

// vcSetLogins sets who may log in (main.go, from the flags).
func vcSetLogins(adminUser, adminPassword, readonlyUser, readonlyPassword string) {
	vcLogins.adminUser, vcLogins.adminPassword = adminUser, adminPassword
	vcLogins.readonlyUser, vcLogins.readonlyPassword = readonlyUser, readonlyPassword
}

func vcValidLogin(user, password string) bool {
	if user == "" || password == "" {
		return false
	}
	if user == vcLogins.adminUser && password == vcLogins.adminPassword {
		return true
	}
	return vcLogins.readonlyUser != "" && user == vcLogins.readonlyUser && password == vcLogins.readonlyPassword
}

// vcRefusedLogin is a Login the simulator refuses (empty password): its own InvalidLogin fault.
var vcRefusedLogin = []byte(`<?xml version="1.0" encoding="UTF-8"?>` +
	`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
	`<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this>` +
	`<userName>refused</userName><password></password></Login></soapenv:Body></soapenv:Envelope>`)

// vcCheckLogin returns the body the simulator gets for a Login request: unchanged when the
// credentials are one of the lab's logins, a refused login otherwise.
func vcCheckLogin(body []byte) []byte {
	method, err := simulator.UnmarshalBody(vcTypeFunc, body)
	if err != nil {
		return body // the simulator answers the decoding fault
	}
	req, ok := method.Body.(*types.Login)
	if !ok || vcValidLogin(req.UserName, req.Password) {
		return body
	}
	return append([]byte(nil), vcRefusedLogin...)
}

// vcHasSession: whether the request carries the cookie of a live session.
func vcHasSession(r *http.Request) bool {
	cookie, err := r.Cookie(soap.SessionCookieName)
	if err != nil || cookie.Value == "" {
		return false
	}
	for _, s := range vcSessionList() {
		if s.Key == cookie.Value {
			return true
		}
	}
	return false
}

// vcSessionList returns the live sessions (the simulator's SessionManager.sessionList view).
func vcSessionList() []types.UserSession {
	smRef := simulator.Map.SessionManager().Reference()
	view := (&simulator.Session{Registry: simulator.NewRegistry()}).Get(smRef)
	if sm, ok := view.(*simulator.SessionManager); ok {
		return sm.SessionList
	}
	return nil
}

// Sessions ended by the lab, and the property collectors each session made wait (so their waits end
// and they stop collecting).
var vcEnded = struct {
	sync.Mutex
	keys       map[string]bool
	collectors map[string][]*vcPropertyCollector
}{keys: map[string]bool{}, collectors: map[string][]*vcPropertyCollector{}}

func vcSessionEnded(ctx *simulator.Context) bool {
	if ctx == nil || ctx.Session == nil {
		return false
	}
	vcEnded.Lock()
	defer vcEnded.Unlock()
	return vcEnded.keys[ctx.Session.Key]
}

// vcTrackCollector remembers that pc collects for the caller's session.
func vcTrackCollector(ctx *simulator.Context, pc *vcPropertyCollector) {
	if ctx == nil || ctx.Session == nil {
		return
	}
	vcEnded.Lock()
	vcEnded.collectors[ctx.Session.Key] = append(vcEnded.collectors[ctx.Session.Key], pc)
	vcEnded.Unlock()
}

// vcExpireSessions ends every session, as vCenter does when they time out or an administrator
// terminates them, and returns how many it ended.
func vcExpireSessions() int {
	sm := simulator.Map.SessionManager()
	ctx := newInternalContext() // TerminateSession refuses the caller's own session: ours is none of them
	ended := 0
	var gone []types.UserSession
	for _, s := range vcSessionList() {
		res := sm.TerminateSession(ctx, &types.TerminateSession{This: sm.Self, SessionId: []string{s.Key}})
		if res.Fault() != nil {
			continue // ended meanwhile
		}
		ended++
		gone = append(gone, s)
	}

	var collectors []*vcPropertyCollector
	vcEnded.Lock()
	for _, s := range gone {
		vcEnded.keys[s.Key] = true
		collectors = append(collectors, vcEnded.collectors[s.Key]...)
		delete(vcEnded.collectors, s.Key)
	}
	vcEnded.Unlock()
	var pcRef types.ManagedObjectReference
	if si, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance); ok {
		pcRef = si.Content.PropertyCollector
	}
	for _, pc := range collectors {
		pc.endWait()
		if pc.Self != pcRef {
			// a collector of the session's own (CreatePropertyCollector): nobody collects for it any
			// more. The per-session view of the ServiceInstance's collector shares its moref with the
			// other sessions' views, so its handler stays (its queue is bounded).
			simulator.Map.RemoveHandler(pc)
		}
	}

	// vCenter logs each end, under the session's user
	em := simulator.Map.EventManager()
	for _, s := range gone {
		login := s.LoginTime
		ev := &types.UserLogoutSessionEvent{IpAddress: s.IpAddress, UserAgent: s.UserAgent, CallCount: s.CallCount,
			SessionId: s.Key, LoginTime: &login}
		ectx := newInternalContext()
		ectx.Session.UserName = s.UserName
		simulator.Map.WithLock(em, func() { em.PostEvent(ectx, &types.PostEvent{This: em.Self, EventToPost: ev}) })
	}
	// the Automation API's sessions of the same users end with them (vapi_session.go)
	return ended + vapiExpireSessions()
}

// --- the session cookie, as vCenter sets it ----------------------------------------------------
//
// vCenter answers a Login with `Set-Cookie: vmware_soap_session="<id>"; Path=/; HttpOnly; Secure`:
// the id in double quotes. Clients take the id from between the quotes (Ansible's
// community.vmware SPBM and SMS helpers split the cookie on '"' to build the vcSessionCookie
// header of the /pbm and /sms endpoints). The simulator sets `vmware_soap_session=<id>; HttpOnly`.
// vcQuoteSessionCookie rewrites its Set-Cookie headers into vCenter's form; Go's cookie parser
// strips the quotes again when the client sends the cookie back. Secure only over TLS (a --http
// lab would otherwise get no cookie back from a browser-like client).

type vcCookieWriter struct {
	http.ResponseWriter
	secure bool
	done   bool
}

func vcQuoteSessionCookie(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if _, ok := w.(*vcCookieWriter); ok {
		return w
	}
	return &vcCookieWriter{ResponseWriter: w, secure: r.TLS != nil}
}

func (w *vcCookieWriter) rewrite() {
	if w.done {
		return
	}
	w.done = true
	h := w.Header()
	cookies := h.Values("Set-Cookie")
	for i, c := range cookies {
		name := soap.SessionCookieName + "="
		if !strings.HasPrefix(c, name) {
			continue
		}
		value := strings.TrimPrefix(c, name)
		if j := strings.IndexByte(value, ';'); j >= 0 {
			value = value[:j]
		}
		value = strings.Trim(value, `"`)
		c = fmt.Sprintf(`%s"%s"; Path=/; HttpOnly`, name, value)
		if w.secure {
			c += "; Secure"
		}
		cookies[i] = c
	}
	if len(cookies) > 0 {
		h.Del("Set-Cookie")
		for _, c := range cookies {
			h.Add("Set-Cookie", c)
		}
	}
}

func (w *vcCookieWriter) WriteHeader(code int) {
	w.rewrite()
	w.ResponseWriter.WriteHeader(code)
}

func (w *vcCookieWriter) Write(b []byte) (int, error) {
	w.rewrite()
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming responses working through the wrapper.
func (w *vcCookieWriter) Flush() {
	w.rewrite()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
