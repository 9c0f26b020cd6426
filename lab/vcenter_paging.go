package main

// Paged RetrievePropertiesEx. vCenter returns at most RetrieveOptions.maxObjects objects per call
// (and fewer when it likes), with a token for ContinueRetrievePropertiesEx; CancelRetrievePropertiesEx
// drops the rest. The 0.24.2 simulator ignores maxObjects, always answers in one page, and has no
// ContinueRetrievePropertiesEx (MethodNotFound). A client that never pages works with the simulator
// and breaks on a real vCenter; and one huge page also hides a client's memory use. So the lab pages
// like vCenter: the full result is collected once, the rest is kept under a token.

import (
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

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
