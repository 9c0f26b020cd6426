package main

// The control API (README.md, "The control API"): HTTP + JSON on loopback.

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
)

func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var api *apiError
	if errors.As(err, &api) {
		writeJSON(w, api.code, map[string]string{"error": api.msg})
		return
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
}

// controlRoutes are endpoints other files add in their init (guest_data_sets.go).
var controlRoutes = map[string]func(l *Lab) http.HandlerFunc{}

func (l *Lab) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, notFound("unknown endpoint %s %s", r.Method, r.URL.Path))
	})
	mux.HandleFunc("/v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]interface{}{"ok": true})
	})
	mux.HandleFunc("/v1/topology", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writeError(w, &apiError{http.StatusMethodNotAllowed, "use GET"})
			return
		}
		writeJSON(w, http.StatusOK, l.topologyDoc())
	})
	mux.HandleFunc("/v1/restore", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeError(w, &apiError{http.StatusMethodNotAllowed, "use POST"})
			return
		}
		l.ctlMu.Lock()
		l.restore()
		_ = vcSetTaskMode(vcTaskMode{Mode: vcTaskNormal})
		vcRestoreTiming()
		vcCancelAll()
		vcJournal.write("restore", nil)
		l.ctlMu.Unlock()
		writeJSON(w, http.StatusOK, map[string]interface{}{"ok": true})
	})
	mux.HandleFunc("/v1/fault/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeError(w, &apiError{http.StatusMethodNotAllowed, "use POST"})
			return
		}
		kind := strings.TrimPrefix(r.URL.Path, "/v1/fault/")
		body, err := readJSONBody(r)
		if err != nil {
			writeError(w, err)
			return
		}
		l.ctlMu.Lock()
		defer l.ctlMu.Unlock()
		if err := l.applyFault(kind, body); err != nil {
			writeError(w, err)
			return
		}
		// the SAN's state is physical: it survives a restart of vCenter (journal.go)
		vcJournal.write("fault", map[string]interface{}{"kind": kind, "body": body})
		out := map[string]interface{}{"ok": true, "fault": kind}
		for k, v := range body {
			out[k] = v
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("/v1/tasks", l.handleTasks)
	mux.HandleFunc("/v1/timing", l.handleTiming) // task_timing.go
	mux.HandleFunc("/v1/vmotion", l.handleVMotionPolicy)
	for path, route := range controlRoutes {
		mux.HandleFunc(path, route(l))
	}
	mux.HandleFunc("/v1/sessions/expire", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeError(w, &apiError{http.StatusMethodNotAllowed, "use POST"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]interface{}{"ok": true, "expired": vcExpireSessions()})
	})
	// loopback only
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			writeError(w, &apiError{http.StatusForbidden, "the control API is for loopback clients only"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// The control API's faults and restores are the SAN's physical state: journaled, they survive a
// restart of the lab's vCenter.
//
//	{"t":"fault","kind":"path","body":{...}}   POST /v1/fault/KIND, replayed by the same function
//	{"t":"restore"}                             POST /v1/restore (the task mode back to normal too)
func init() {
	registerJournal("fault", func(l *Lab, e *journalEntry) error {
		var r struct {
			Kind string                 `json:"kind"`
			Body map[string]interface{} `json:"body"`
		}
		if err := e.decode(&r); err != nil {
			return err
		}
		return l.applyFault(r.Kind, r.Body)
	})
	registerJournal("restore", func(l *Lab, e *journalEntry) error {
		l.restore()
		vcRestoreTiming()
		return vcSetTaskMode(vcTaskMode{Mode: vcTaskNormal})
	})
}

// readJSONBody reads a request body that is empty or a JSON object.
func readJSONBody(r *http.Request) (map[string]interface{}, error) {
	body := map[string]interface{}{}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, badRequest("cannot read body: %v", err)
	}
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := json.Unmarshal(data, &body); err != nil || body == nil {
			return nil, badRequest("body is not a JSON object")
		}
	}
	return body, nil
}

// applyFault injects one fault (POST /v1/fault/KIND, and its journal replay).
func (l *Lab) applyFault(kind string, body map[string]interface{}) error {
	arg := func(name string) (string, error) {
		v, ok := body[name]
		if !ok {
			return "", badRequest("missing '%s'", name)
		}
		s, ok := v.(string)
		if !ok || s == "" {
			return "", badRequest("'%s' must be a non-empty string", name)
		}
		return s, nil
	}
	args := func(names ...string) ([]string, error) {
		var out []string
		for _, n := range names {
			v, err := arg(n)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	// operational_state (optional): the ScsiLun operational state the fault selects (storage.go)
	reading := ""
	if v, ok := body["operational_state"]; ok {
		s, isString := v.(string)
		if !isString {
			return badRequest("'operational_state' must be a string")
		}
		reading = s
	}
	var a []string
	var err error
	switch kind {
	case "path":
		if a, err = args("host", "path", "state"); err == nil {
			err = l.faultPath(nil, a[0], a[1], a[2], reading)
		}
	case "hba":
		if a, err = args("host", "hba", "state"); err == nil {
			err = l.faultHBA(a[0], a[1], a[2], reading)
		}
	case "target":
		if a, err = args("target", "state"); err == nil {
			err = l.faultTarget(a[0], a[1], reading)
		}
	case "lun":
		if a, err = args("lun", "state"); err == nil {
			err = l.faultLun(a[0], a[1], reading)
		}
	case "fabric":
		if a, err = args("fabric", "state"); err == nil {
			err = l.faultFabric(a[0], a[1], reading)
		}
	case "host":
		if a, err = args("host", "state"); err == nil {
			err = l.faultHost(a[0], a[1])
		}
	default:
		err = notFound("unknown fault kind '%s': one of path, hba, target, lun, host, fabric", kind)
	}
	return err
}
