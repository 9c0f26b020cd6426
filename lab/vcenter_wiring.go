package main

// Wires the vCenter fixes into main.go's hooks (declared there: vcenterFixes, latencyMiddleware).
// If main.go calls installVCenterFixes / withLatency itself, delete this file.
func init() {
	vcenterFixes = installVCenterFixes
	latencyMiddleware = withLatency
}
