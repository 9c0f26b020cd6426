package main

// The Storage Policy service (SPBM) at /pbm/sdk (and /pbm), as vCenter serves it beside /sdk.
//
// Clients of storage policies (pyVmomi's pbm module, Ansible's vmware_vm_storage_policy_info,
// govc storage.policy.*) open a second SOAP stub on /pbm/sdk and authenticate with the vCenter
// session: the session id goes in the SOAP header element vcSessionCookie, no HTTP cookie is sent.
// govmomi's pbm simulator (Debian's 0.24.2, imported below) serves the service with vCenter's
// default policies (VM Encryption Policy, vSAN Default Storage Policy, VVol No Requirements Policy,
// Host-local PMem Default Storage Policy, ...), but maps a session only from the HTTP cookie; the
// lab hands the header's session id to it as that cookie. An unknown id stays unauthenticated
// (NotAuthenticated for every call but PbmRetrieveServiceContent, as on vCenter).

import (
	"bytes"
	"encoding/xml"
	"io/ioutil"
	"net/http"
	"strconv"
	"strings"

	_ "github.com/vmware/govmomi/pbm/simulator" // registers /pbm/sdk for a vCenter model

	"github.com/vmware/govmomi/pbm"
	"github.com/vmware/govmomi/vim25/soap"
)

// vcPbmSession gives an SPBM request the session its vcSessionCookie header names. vCenter serves
// SPBM at /pbm/sdk (pyVmomi, Ansible) and /pbm (govmomi); the simulator at /pbm only.
func vcPbmSession(r *http.Request) {
	if r.Method != http.MethodPost || (r.URL.Path != pbm.Path && r.URL.Path != pbm.Path+"/sdk") {
		return
	}
	r.URL.Path = pbm.Path
	if c, err := r.Cookie(soap.SessionCookieName); err == nil && c.Value != "" {
		return
	}
	body, err := ioutil.ReadAll(http.MaxBytesReader(nil, r.Body, 1<<20))
	_ = r.Body.Close()
	r.Body = ioutil.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	if err != nil {
		return
	}
	if id := vcSOAPHeaderCookie(body); id != "" {
		r.AddCookie(&http.Cookie{Name: soap.SessionCookieName, Value: id})
	}
}

// vcSOAPHeaderCookie returns the text of <vcSessionCookie> in the SOAP Header, "" if none.
func vcSOAPHeaderCookie(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	inHeader := false
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "Header":
				inHeader = true
			case "Body":
				return ""
			case "vcSessionCookie":
				if !inHeader {
					return ""
				}
				var v string
				if d.DecodeElement(&v, &t) != nil {
					return ""
				}
				return strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	}
}
