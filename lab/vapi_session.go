package main

// Automation API sessions (com.vmware.cis.session) and the vSphere Client's clone ticket.
//
//   - create: JSON-RPC with the user_pass security context, or POST /api/session with HTTP
//     Basic credentials (201, the session id as a JSON string); the same logins as SOAP
//     (session_manager.go): the administrator and the read-only user, with their roles;
//   - get: com.vmware.cis.session.info {user, created_time, last_accessed_time};
//   - delete: ends the session (DELETE /api/session, 204);
//   - a wrong login or an unknown or ended session is com.vmware.vapi.std.errors.unauthenticated
//     (401 in the REST forms);
//   - POST /v1/sessions/expire (lab expire-sessions) ends these sessions with the SOAP ones, as
//     an administrator terminating a user's sessions does;
//   - POST /api/ui/vcenter/session/clone-ticket with vmware-api-session-id and {"vc_guid":
//     "<about.instanceUuid>"} answers {"session_clone_ticket": "..."}: the API gateway's endpoint
//     a vSphere Client remote plugin server calls (Broadcom's remote plug-in sample,
//     SessionServiceImpl/CloneSessionReply) before SessionManager.CloneSession on /sdk
//     (session_manager_clone.go). A vc_guid that is not this vCenter's is not_found.

import (
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type vapiSession struct {
	id, user           string
	created, lastTouch time.Time
}

var vapiSessions = struct {
	sync.Mutex
	byID map[string]*vapiSession
}{byID: map[string]*vapiSession{}}

// vapiLookupSession returns the live session with that id (and marks it used), nil if none.
func vapiLookupSession(id string) *vapiSession {
	if id == "" {
		return nil
	}
	vapiSessions.Lock()
	defer vapiSessions.Unlock()
	s := vapiSessions.byID[id]
	if s != nil {
		s.lastTouch = time.Now()
	}
	return s
}

// vapiSessionAlive tells whether a session still exists, without marking it used.
func vapiSessionAlive(id string) bool {
	vapiSessions.Lock()
	defer vapiSessions.Unlock()
	return vapiSessions.byID[id] != nil
}

// vapiExpireSessions ends every Automation API session and returns how many it ended.
func vapiExpireSessions() int {
	vapiSessions.Lock()
	defer vapiSessions.Unlock()
	n := len(vapiSessions.byID)
	vapiSessions.byID = map[string]*vapiSession{}
	return n
}

func init() {
	const svc = "com.vmware.cis.session"
	registerVapi(
		vapiOp{service: svc, op: "create", rest: "POST /session", anonymous: true, created: true,
			run: func(c *vapiCall) (interface{}, *vapiError) {
				now := time.Now()
				s := &vapiSession{id: uuid.New().String(), user: c.user, created: now, lastTouch: now}
				vapiSessions.Lock()
				vapiSessions.byID[s.id] = s
				vapiSessions.Unlock()
				return vapiSecret(s.id), nil
			}},
		vapiOp{service: svc, op: "get", rest: "GET /session",
			run: func(c *vapiCall) (interface{}, *vapiError) {
				vapiSessions.Lock()
				s := *c.session
				vapiSessions.Unlock()
				return newStruct("com.vmware.cis.session.info", "user", s.user,
					"created_time", vapiTime(s.created), "last_accessed_time", vapiTime(s.lastTouch)), nil
			}},
		vapiOp{service: svc, op: "delete", rest: "DELETE /session",
			run: func(c *vapiCall) (interface{}, *vapiError) {
				vapiSessions.Lock()
				delete(vapiSessions.byID, c.session.id)
				vapiSessions.Unlock()
				return nil, nil
			}},
		// the API gateway's clone ticket: REST only, not an SDK service
		vapiOp{rest: "POST /ui/vcenter/session/clone-ticket", fields: []string{"vc_guid"},
			run: func(c *vapiCall) (interface{}, *vapiError) {
				guid, set, err := c.in.optStr("vc_guid")
				if err != nil {
					return nil, err
				}
				if set && guid != vcInstanceUUID() {
					return nil, vapiErr("not_found", "com.vmware.vcenter.session.vc_guid.not_found",
						"No vCenter Server with the GUID "+guid+" is known.")
				}
				ticket := vcIssueCloneTicket(c.user, "", c.session.id)
				return newStruct("com.vmware.vcenter.ui.session.clone_ticket", "session_clone_ticket", ticket), nil
			}},
	)
}

// vcInstanceUUID is ServiceContent.about.instanceUuid, the vc_guid of the clone-ticket request.
func vcInstanceUUID() string {
	if si, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance); ok {
		return si.Content.About.InstanceUuid
	}
	return ""
}
