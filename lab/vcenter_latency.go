package main

import (
	"net/http"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
)

// withLatency adds d to every SOAP call (POST to the /sdk endpoint), before the call is served, as
// a WAN link or a loaded vCenter would (--latency-ms, for honest benchmarks). Other paths (the
// control API if it shares the mux, /about, datastore file access) are not delayed. A client that
// gives up while waiting gets no answer, as with a real slow server. d <= 0 returns h unchanged.
func withLatency(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, simulator.Map.Path) {
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
