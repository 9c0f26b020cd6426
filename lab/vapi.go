package main

// The Automation API endpoint (/api), as vCenter serves it beside /sdk.
//
//   - POST /api: vAPI JSON-RPC 2.0, the protocol of Broadcom's SDK (vmware-vapi-runtime's
//     json_connector): {"jsonrpc":"2.0","method":"invoke","id":N,"params":{"serviceId":...,
//     "operationId":...,"input":{"STRUCTURE":{"operation-input":{...}}},"ctx":{"appCtx":{},
//     "securityCtx":{...}}}}. The security context is {"schemeId":
//     "com.vmware.vapi.std.security.user_pass","userName":...,"password":...} to create a
//     session, {"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":...} after.
//     The answer is {"jsonrpc":"2.0","id":N,"result":{"output":...}} or, for an operation's
//     error, {"result":{"error":{"ERROR":{"com.vmware.vapi.std.errors.<name>":{...}}}}} with
//     HTTP 200; a malformed request is a JSON-RPC error object (-32700, -32600, -32602).
//   - the REST forms under /api/... (what curl and govc call): each operation's route is the
//     binding's REST metadata ("POST /cis/tagging/tag-association/{tag_id}?action=attach");
//     path variables and, for GET/DELETE, query parameters fill the input; a POST/PUT/PATCH
//     body is the operation's body parameter or an object of its other fields. Output is bare
//     JSON: 200 with a value, 201 for a create, 204 for none; errors are the HTTP status vAPI
//     maps each standard error to, with {"error_type":"NOT_FOUND","messages":[...]}. The
//     session travels in the vmware-api-session-id header (or cookie), checked before the
//     body is read; POST /api/session takes HTTP Basic credentials.
//
// Services register their operations with registerVapi in their own file's init
// (vapi_session.go, vapi_tagging.go, vapi_tag_association.go, vapi_data_sets.go). The routes are
// served on the SOAP port through simulator.RegisterEndpoint.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
)

func init() {
	simulator.RegisterEndpoint(func(s *simulator.Service, r *simulator.Registry) {
		h := http.HandlerFunc(vapiServe)
		s.Handle("/api", h)
		s.Handle("/api/", h)
	})
}

// vapiCall is one operation call: who calls, with what.
type vapiCall struct {
	user    string
	session *vapiSession // nil for session.create
	in      vapiIn
	r       *http.Request
}

// vapiOp is one operation of a service.
type vapiOp struct {
	service, op string
	rest        string   // "METHOD /path/{field}?action=name"
	body        string   // the field that is the whole REST body ("" : an object of the fields)
	fields      []string // the operation's input fields
	anonymous   bool     // authenticated by credentials (com.vmware.cis.session.create)
	created     bool     // REST answers 201 Created
	run         func(c *vapiCall) (interface{}, *vapiError)

	method, action string
	segments       []string
}

var vapiOps = struct {
	sync.RWMutex
	byID   map[string]*vapiOp
	routes []*vapiOp
}{byID: map[string]*vapiOp{}}

// registerVapi adds operations (each service's file, in its init).
func registerVapi(ops ...vapiOp) {
	vapiOps.Lock()
	defer vapiOps.Unlock()
	for i := range ops {
		op := ops[i]
		method, path := op.rest, ""
		if i := strings.IndexByte(op.rest, ' '); i > 0 {
			method, path = op.rest[:i], op.rest[i+1:]
		}
		if q := strings.Index(path, "?action="); q >= 0 {
			op.action = path[q+len("?action="):]
			path = path[:q]
		}
		op.method = method
		op.segments = strings.Split(strings.Trim(path, "/"), "/")
		if op.service != "" { // "": a REST-only endpoint
			vapiOps.byID[op.service+"\x00"+op.op] = &op
		}
		vapiOps.routes = append(vapiOps.routes, &op)
	}
}

// --- errors ----------------------------------------------------------------------------------

// vapiError is a standard error (com.vmware.vapi.std.errors.<kind>) with one message.
type vapiError struct {
	kind, msgID, msg string
}

func vapiErr(kind, msgID, msg string) *vapiError { return &vapiError{kind, msgID, msg} }

// vapiStatus: the HTTP status of each standard error in the REST forms (the runtime's
// vapi_to_http_error_map).
var vapiStatus = map[string]int{
	"already_exists": 400, "already_in_desired_state": 400, "invalid_argument": 400,
	"invalid_request": 400, "not_allowed_in_current_state": 400, "resource_in_use": 400,
	"resource_busy": 400, "unable_to_allocate_resource": 400, "unsupported": 400,
	"not_found": 404, "operation_not_found": 404, "unauthenticated": 401, "unauthorized": 403,
	"concurrent_change": 409, "service_unavailable": 503, "internal_server_error": 500,
}

func (e *vapiError) message() vapiStruct {
	return newStruct("com.vmware.vapi.std.localizable_message",
		"id", e.msgID, "default_message", e.msg, "args", []interface{}{})
}

func (e *vapiError) rpc() interface{} {
	return map[string]interface{}{"ERROR": map[string]interface{}{
		"com.vmware.vapi.std.errors." + e.kind: map[string]interface{}{
			"messages":   []interface{}{vapiEncodeRPC(e.message())},
			"data":       map[string]interface{}{"OPTIONAL": nil},
			"error_type": map[string]interface{}{"OPTIONAL": strings.ToUpper(e.kind)},
		}}}
}

func (e *vapiError) rest(w http.ResponseWriter) {
	code, ok := vapiStatus[e.kind]
	if !ok {
		code = 500
	}
	writeJSON(w, code, map[string]interface{}{
		"error_type": strings.ToUpper(e.kind),
		"messages":   []interface{}{vapiEncodeREST(e.message())},
	})
}

var vapiAuthRequired = vapiErr("unauthenticated", "com.vmware.vapi.endpoint.method.authentication.required",
	"Authentication required.")

// vapiDenied is vCenter's answer when the user lacks a privilege.
func vapiDenied(privilege string) *vapiError {
	return vapiErr("unauthorized", "vapi.security.authorization.invalid",
		"Unable to authorize user: the operation needs the privilege "+privilege+".")
}

// vapiCheck refuses a call whose user lacks privilege (authorization_manager.go's roles).
func (c *vapiCall) check(privilege string) *vapiError {
	if vcUserGranted(c.user, privilege) {
		return nil
	}
	return vapiDenied(privilege)
}

// --- dispatch --------------------------------------------------------------------------------

func vapiServe(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api" || r.URL.Path == "/api/" {
		if r.Method != http.MethodPost {
			vapiErr("operation_not_found", "vapi.method.input.invalid", "Use POST for JSON-RPC.").rest(w)
			return
		}
		vapiServeRPC(w, r)
		return
	}
	vapiServeREST(w, r)
}

func vapiRun(op *vapiOp, c *vapiCall) (out interface{}, verr *vapiError) {
	if err := c.in.only(op.fields...); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			out, verr = nil, vapiErr("error", "vapi.server.error", "A general system error occurred.")
		}
	}()
	return op.run(c)
}

// --- JSON-RPC --------------------------------------------------------------------------------

type vapiRPCRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	ID      json.RawMessage `json:"id"`
	Params  struct {
		ServiceID   string          `json:"serviceId"`
		OperationID string          `json:"operationId"`
		Input       json.RawMessage `json:"input"`
		Ctx         struct {
			SecurityCtx map[string]interface{} `json:"securityCtx"`
		} `json:"ctx"`
	} `json:"params"`
}

func vapiRPCError(w http.ResponseWriter, id json.RawMessage, code int, msg string) {
	var idv interface{}
	if len(id) > 0 && code != -32700 && code != -32600 {
		idv = id
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{"jsonrpc": "2.0", "id": idv,
		"error": map[string]interface{}{"code": code, "message": msg}})
}

func vapiServeRPC(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, vapiMaxBody+1))
	if err != nil || len(data) > vapiMaxBody {
		vapiRPCError(w, nil, -32600, "Invalid Request.")
		return
	}
	var req vapiRPCRequest
	if !vapiDepthOK(data, vapiMaxDepth) || json.Unmarshal(data, &req) != nil {
		vapiRPCError(w, nil, -32700, "Parse error.")
		return
	}
	if req.JSONRPC != "2.0" || len(req.ID) == 0 {
		vapiRPCError(w, nil, -32600, "Invalid Request.")
		return
	}
	if req.Method != "invoke" {
		vapiRPCError(w, req.ID, -32601, "Method not found.")
		return
	}
	answer := func(result interface{}) {
		writeJSON(w, http.StatusOK, map[string]interface{}{"jsonrpc": "2.0", "id": req.ID, "result": result})
	}
	fail := func(e *vapiError) { answer(map[string]interface{}{"error": e.rpc()}) }

	vapiOps.RLock()
	op := vapiOps.byID[req.Params.ServiceID+"\x00"+req.Params.OperationID]
	vapiOps.RUnlock()
	if op == nil {
		fail(vapiErr("operation_not_found", "vapi.method.input.invalid.interface",
			"Operation '"+req.Params.OperationID+"' of service '"+req.Params.ServiceID+"' not found."))
		return
	}
	c := &vapiCall{r: r}
	sec := req.Params.Ctx.SecurityCtx
	scheme, _ := sec["schemeId"].(string)
	switch {
	case op.anonymous && scheme == "com.vmware.vapi.std.security.user_pass":
		user, _ := sec["userName"].(string)
		password, _ := sec["password"].(string)
		if !vcValidLogin(user, password) {
			fail(vapiAuthRequired)
			return
		}
		c.user = user
	case scheme == "com.vmware.vapi.std.security.session_id" && !op.anonymous:
		id, _ := sec["sessionId"].(string)
		if c.session = vapiLookupSession(id); c.session == nil {
			fail(vapiAuthRequired)
			return
		}
		c.user = c.session.user
	default:
		fail(vapiAuthRequired)
		return
	}
	in, err := vapiDecode(req.Params.Input)
	if err == nil {
		in, err = vapiUnwrapRPC(in)
	}
	fields, ok := in.(map[string]interface{})
	if err != nil || !ok {
		vapiRPCError(w, req.ID, -32602, "Invalid params.")
		return
	}
	c.in = fields
	out, verr := vapiRun(op, c)
	if verr != nil {
		fail(verr)
		return
	}
	answer(map[string]interface{}{"output": vapiEncodeRPC(out)})
}

// --- REST ------------------------------------------------------------------------------------

// vapiMatch finds the operation of a REST request and its path variables.
func vapiMatch(r *http.Request) (*vapiOp, map[string]string) {
	raw := strings.Trim(strings.TrimPrefix(r.URL.EscapedPath(), "/api"), "/")
	parts := strings.Split(raw, "/")
	action := r.URL.Query().Get("action")
	vapiOps.RLock()
	defer vapiOps.RUnlock()
	for _, op := range vapiOps.routes {
		if op.method != r.Method || op.action != action || len(op.segments) != len(parts) {
			continue
		}
		vars := map[string]string{}
		ok := true
		for i, seg := range op.segments {
			value, err := url.PathUnescape(parts[i])
			if err != nil {
				ok = false
				break
			}
			if strings.HasPrefix(seg, "{") {
				vars[strings.Trim(seg, "{}")] = value
			} else if seg != value {
				ok = false
				break
			}
		}
		if ok {
			return op, vars
		}
	}
	return nil, nil
}

// vapiRESTSession authenticates a REST request from its headers (never its body).
func vapiRESTSession(r *http.Request) *vapiSession {
	id := r.Header.Get("vmware-api-session-id")
	if id == "" {
		if c, err := r.Cookie("vmware-api-session-id"); err == nil {
			id = c.Value
		}
	}
	return vapiLookupSession(id)
}

func vapiServeREST(w http.ResponseWriter, r *http.Request) {
	op, vars := vapiMatch(r)
	if op == nil {
		vapiErr("not_found", "vapi.rest.path.not_found", "No operation at "+r.Method+" "+r.URL.Path+".").rest(w)
		return
	}
	c := &vapiCall{r: r}
	if op.anonymous {
		user, password, ok := r.BasicAuth()
		if !ok || !vcValidLogin(user, password) {
			vapiAuthRequired.rest(w)
			return
		}
		c.user = user
	} else {
		if c.session = vapiRESTSession(r); c.session == nil {
			vapiAuthRequired.rest(w)
			return
		}
		c.user = c.session.user
	}
	in := vapiIn{}
	for k, v := range vars {
		in[k] = v
	}
	switch r.Method {
	case http.MethodGet, http.MethodDelete:
		for k, v := range r.URL.Query() {
			if k != "action" && len(v) > 0 {
				in[k] = v[0]
			}
		}
	default:
		data, err := io.ReadAll(io.LimitReader(r.Body, vapiMaxBody+1))
		if err != nil || len(data) > vapiMaxBody {
			vapiErr("invalid_request", "vapi.rest.body.too_large", "The request body is too large.").rest(w)
			return
		}
		if len(strings.TrimSpace(string(data))) > 0 {
			body, err := vapiDecode(data)
			if err != nil {
				vapiErr("invalid_request", "vapi.rest.body.invalid", "The request body is not valid JSON: "+err.Error()).rest(w)
				return
			}
			if op.body != "" {
				in[op.body] = body
			} else if obj, ok := body.(map[string]interface{}); ok {
				for k, v := range obj {
					if _, taken := in[k]; !taken {
						in[k] = v
					}
				}
			} else {
				vapiErr("invalid_request", "vapi.rest.body.invalid", "The request body must be a JSON object.").rest(w)
				return
			}
		}
	}
	c.in = in
	out, verr := vapiRun(op, c)
	switch {
	case verr != nil:
		verr.rest(w)
	case out == nil:
		w.WriteHeader(http.StatusNoContent)
	case op.created:
		writeJSON(w, http.StatusCreated, vapiEncodeREST(out))
	default:
		writeJSON(w, http.StatusOK, vapiEncodeREST(out))
	}
}
