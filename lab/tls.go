package main

// The lab's self-signed certificate: CN and SAN 127.0.0.1 and localhost, usable as its own trust
// anchor (clients verify against cert.pem) or pinned by SHA-1 thumbprint like vCenter's.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// writeCertificate returns the lab's certificate: the one already in dir when it is a valid pair
// (a restarted lab keeps its certificate and thumbprint, as vCenter keeps its own across a restart
// of vpxd), else a new one written there.
func writeCertificate(dir string) (tls.Certificate, []byte, string, error) {
	var none tls.Certificate
	if cert, der, file, ok := readCertificate(dir); ok {
		return cert, der, file, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return none, nil, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return none, nil, "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return none, nil, "", err
	}
	ski := sha1.Sum(pub)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "127.0.0.1", Organization: []string{"vsguesttruth SAN lab"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski[:],
		AuthorityKeyId:        ski[:],
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return none, nil, "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return none, nil, "", err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return none, nil, "", err
	}
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		return none, nil, "", err
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return none, nil, "", err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return none, nil, "", err
	}
	abs, err := filepath.Abs(certFile)
	if err != nil {
		abs = certFile
	}
	return cert, der, abs, nil
}

// sha1Thumbprint is "AA:BB:..." over the certificate DER, the form vCenter shows.
func sha1Thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func readCertificate(dir string) (tls.Certificate, []byte, string, bool) {
	var none tls.Certificate
	certFile := filepath.Join(dir, "cert.pem")
	certPEM, err1 := os.ReadFile(certFile)
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, "key.pem"))
	if err1 != nil || err2 != nil {
		return none, nil, "", false
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil || len(cert.Certificate) == 0 {
		return none, nil, "", false
	}
	parsed, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || time.Now().Add(24*time.Hour).After(parsed.NotAfter) {
		return none, nil, "", false // expiring: a new one
	}
	abs, err := filepath.Abs(certFile)
	if err != nil {
		abs = certFile
	}
	return cert, cert.Certificate[0], abs, true
}
