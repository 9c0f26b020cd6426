package main

// Clone tickets: SessionManager.AcquireCloneTicket and CloneSession, as the vSphere Client's
// remote plugins use them.
//
// vCenter (API reference, SessionManager.AcquireCloneTicket): the ticket "may only be used once
// and becomes invalid after use. The ticket is also invalidated when the corresponding session is
// closed or expires"; CloneSession on a connection without a session takes on the identity of the
// ticket's session, and an invalid ticket is InvalidLogin. Tickets come from AcquireCloneTicket on
// /sdk or from the API gateway's POST /api/ui/vcenter/session/clone-ticket for an Automation API
// session (vapi_session.go). The 0.24.2 simulator makes its ticket a session key of its own: the
// ticket works as a session cookie, is listed in sessionList, and lives forever. The lab keeps its
// tickets apart, single use, tied to the session that asked, and short-lived (vcCloneTicketTTL:
// the lab's choice, vCenter documents no lifetime); a valid CloneSession is handed to the
// simulator under a one-time internal key, so the new session, its cookie and its
// UserLoginSessionEvent are the simulator's own.

import (
	"bytes"
	"encoding/xml"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const vcCloneTicketTTL = 60 * time.Second

type vcCloneTicket struct {
	user    string
	soapKey string // the SOAP session that asked (AcquireCloneTicket)
	vapiID  string // or the Automation API session (clone-ticket endpoint)
	expires time.Time
}

var vcCloneTickets = struct {
	sync.Mutex
	byTicket map[string]*vcCloneTicket
	handed   map[string]time.Time // keys already rewritten (the SOAP path may pass the handler twice)
}{byTicket: map[string]*vcCloneTicket{}, handed: map[string]time.Time{}}

func init() {
	vcCallFixes["AcquireCloneTicket"] = vcHandleAcquireCloneTicket
	vcLoginRewrites["CloneSession"] = vcCheckCloneSession
}

// vcIssueCloneTicket makes a ticket for the session of user (a SOAP key or an Automation API id).
func vcIssueCloneTicket(user, soapKey, vapiID string) string {
	ticket := "cst-VCT-" + uuid.New().String()
	now := time.Now()
	vcCloneTickets.Lock()
	defer vcCloneTickets.Unlock()
	for k, t := range vcCloneTickets.byTicket {
		if now.After(t.expires) {
			delete(vcCloneTickets.byTicket, k)
		}
	}
	vcCloneTickets.byTicket[ticket] = &vcCloneTicket{user: user, soapKey: soapKey, vapiID: vapiID, expires: now.Add(vcCloneTicketTTL)}
	return ticket
}

func vcHandleAcquireCloneTicket(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	ticket := vcIssueCloneTicket(ctx.Session.UserName, ctx.Session.Key, "")
	return &methods.AcquireCloneTicketBody{Res: &types.AcquireCloneTicketResponse{Returnval: ticket}}
}

// vcTakeCloneTicket consumes a ticket: its user, false when it is unknown, used, expired or its
// session has ended.
func vcTakeCloneTicket(ticket string) (string, bool) {
	vcCloneTickets.Lock()
	t := vcCloneTickets.byTicket[ticket]
	delete(vcCloneTickets.byTicket, ticket)
	vcCloneTickets.Unlock()
	if t == nil || time.Now().After(t.expires) {
		return "", false
	}
	if t.soapKey != "" {
		if _, alive := vcSessionUser(t.soapKey); !alive {
			return "", false
		}
	} else if !vapiSessionAlive(t.vapiID) {
		return "", false
	}
	return t.user, true
}

// vcCheckCloneSession rewrites a CloneSession request for the simulator: a valid ticket becomes
// a one-time key of the simulator's for a session of the ticket's user, anything else a key it
// does not know (InvalidLogin).
func vcCheckCloneSession(body []byte) []byte {
	method, err := simulator.UnmarshalBody(vcTypeFunc, body)
	if err != nil {
		return body // the simulator answers the decoding fault
	}
	req, ok := method.Body.(*types.CloneSession)
	if !ok {
		return body
	}
	vcCloneTickets.Lock()
	_, handed := vcCloneTickets.handed[req.CloneTicket]
	delete(vcCloneTickets.handed, req.CloneTicket)
	for k, at := range vcCloneTickets.handed {
		if time.Since(at) > vcCloneTicketTTL {
			delete(vcCloneTickets.handed, k) // answered by a single pass
		}
	}
	vcCloneTickets.Unlock()
	if handed {
		return body
	}
	key := "refused-" + uuid.New().String()
	if user, valid := vcTakeCloneTicket(req.CloneTicket); valid {
		ctx := newInternalContext()
		now := time.Now().UTC()
		s := &ctx.Session.UserSession
		s.UserName, s.FullName, s.LoginTime, s.LastActiveTime = user, user, now, now
		s.Locale, s.MessageLocale = "en", "en"
		sm := simulator.Map.SessionManager()
		if res, ok := sm.AcquireCloneTicket(ctx, &types.AcquireCloneTicket{This: sm.Self}).(*methods.AcquireCloneTicketBody); ok && res.Res != nil {
			key = res.Res.Returnval
		}
	}
	vcCloneTickets.Lock()
	vcCloneTickets.handed[key] = time.Now()
	vcCloneTickets.Unlock()
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">` +
		`<soapenv:Body><CloneSession xmlns="urn:vim25"><_this type="SessionManager">`)
	_ = xml.EscapeText(&b, []byte(req.This.Value))
	b.WriteString(`</_this><cloneTicket>`)
	_ = xml.EscapeText(&b, []byte(key))
	b.WriteString(`</cloneTicket></CloneSession></soapenv:Body></soapenv:Envelope>`)
	return b.Bytes()
}
