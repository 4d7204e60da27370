package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLSFiles are the certificate and key a server presents, and the CA
// clients should trust when bulwark generated them.
type TLSFiles struct {
	Cert, Key, CA string
}

// GenerateTLS makes (once) a private CA and a server certificate for
// hosts under dir/tls, and renews the server certificate when it is
// within 30 days of expiry. Keys are written mode 0600.
func GenerateTLS(dir string, hosts []string, now time.Time) (*TLSFiles, error) {
	d := filepath.Join(dir, "tls")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	f := &TLSFiles{Cert: filepath.Join(d, "server.crt"), Key: filepath.Join(d, "server.key"), CA: filepath.Join(d, "ca.crt")}
	caKeyFile := filepath.Join(d, "ca.key")
	caCert, caKey, err := loadPair(f.CA, caKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = newCert(nil, nil, pkix.Name{CommonName: "bulwark local CA", Organization: []string{"bulwark"}}, nil, now, 10*365*24*time.Hour, f.CA, caKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("TLS CA in %s: %w", d, err)
	}
	if cert, _, err := loadPair(f.Cert, f.Key); err == nil && cert.NotAfter.Sub(now) > 30*24*time.Hour && coversAll(cert, hosts) {
		return f, nil
	}
	if _, _, err := newCert(caCert, caKey, pkix.Name{CommonName: hosts[0], Organization: []string{"bulwark"}}, hosts, now, 365*24*time.Hour, f.Cert, f.Key); err != nil {
		return nil, fmt.Errorf("TLS certificate in %s: %w", d, err)
	}
	return f, nil
}

func coversAll(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		if _, serr := os.Stat(certFile); errors.Is(serr, os.ErrNotExist) {
			return nil, nil, os.ErrNotExist
		}
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an ECDSA key", keyFile)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	return cert, key, err
}

// newCert issues a certificate (self-signed CA when parent is nil).
func newCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, subject pkix.Name, hosts []string, now time.Time, life time.Duration, certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: subject, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(life)}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// TLSConfig is the server's TLS configuration: TLS 1.2 or later.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
