package pymemcache

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tlsCerts makes, with the standard library, a CA, a server certificate
// for 127.0.0.1 and localhost, a client certificate and a foreign CA, as
// PEM files in a temporary directory (ca.pem, server.pem/.key, client.pem/
// .key, other-ca.pem).
func tlsCerts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) {
		b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	serial := int64(1)
	mk := func(name string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.Subject = pkix.Name{CommonName: name}
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".pem", "CERTIFICATE", der)
		write(name+".key", "PRIVATE KEY", kder)
		return cert, key
	}
	ca := func() *x509.Certificate {
		return &x509.Certificate{IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	}
	caCert, caKey := mk("ca", ca(), nil, nil)
	mk("other-ca", ca(), nil, nil)
	mk("server", &x509.Certificate{KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}, caCert, caKey)
	mk("client", &x509.Certificate{KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, caCert, caKey)
	return dir
}

func roundtrip(t *testing.T, c *Client) {
	t.Helper()
	if err := c.Set("tls-key", []byte("over TLS"), 7, 0); err != nil {
		t.Fatal(err)
	}
	it, found, err := c.Get("tls-key")
	if err != nil || !found || string(it.Value) != "over TLS" || it.Flags != 7 {
		t.Fatalf("get: %v %v %q", err, found, it.Value)
	}
}

func TestTLS(t *testing.T) {
	d := tlsCerts(t)
	m, err := startMemcached("-Z", "-o", "ssl_chain_cert="+filepath.Join(d, "server.pem")+",ssl_key="+filepath.Join(d, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.stop()
	opts := func(tls *TLSOptions) Options {
		return Options{Servers: []string{m.addr}, Timeout: 3 * time.Second, ConnectTimeout: 3 * time.Second,
			ReconnectBackoff: &Backoff{}, TLS: tls}
	}
	for _, pooled := range []bool{false, true} {
		o := opts(&TLSOptions{CAFile: filepath.Join(d, "ca.pem"), MinVersion: "1.2", ServerName: "localhost"})
		o.UsePooling = pooled
		c, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		roundtrip(t, c)
		c.Close()
	}
	c, err := New(opts(&TLSOptions{CADir: d, SystemRoots: true}))
	if err != nil {
		t.Fatal(err)
	}
	roundtrip(t, c)
	c.Close()
	c, err = New(opts(&TLSOptions{InsecureNoVerifyTestingOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	roundtrip(t, c)
	c.Close()

	// Failures: each its own error, saying what failed.
	c, err = New(opts(&TLSOptions{CAFile: filepath.Join(d, "other-ca.pem")}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Version()
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "unknown CA") {
		t.Fatalf("want ErrTLS (unknown CA), got %v", err)
	}
	c.Close()
	c, err = New(opts(&TLSOptions{CAFile: filepath.Join(d, "ca.pem"), ServerName: "cache.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.Version(); !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "name mismatch") {
		t.Fatalf("want ErrTLS (name mismatch), got %v", err)
	}
	c.Close()
	if _, err = New(opts(&TLSOptions{CAFile: filepath.Join(d, "missing.pem")})); !errors.Is(err, ErrTLS) {
		t.Fatalf("want ErrTLS for a missing CA file, got %v", err)
	}
	if _, err = New(opts(&TLSOptions{MinVersion: "1.1"})); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("want ErrInvalidArgument for TLS 1.1, got %v", err)
	}
	o := opts(&TLSOptions{CAFile: filepath.Join(d, "ca.pem"), ClientCertFile: filepath.Join(d, "client.pem"),
		ClientKeyFile: filepath.Join(d, "client.key")})
	c, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	roundtrip(t, c) // the server does not ask for it: accepted all the same
	c.Close()
}

func TestAuth(t *testing.T) {
	f := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(f, []byte("gopher:s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := startMemcached("-Y", f)
	if err != nil {
		t.Fatal(err)
	}
	defer m.stop()
	opts := func(a *Auth) Options {
		return Options{Servers: []string{m.addr}, Timeout: 3 * time.Second, ReconnectBackoff: &Backoff{}, Auth: a}
	}
	c, err := New(opts(&Auth{"gopher", "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	roundtrip(t, c)
	c.Close()
	c, err = New(opts(&Auth{"gopher", "wrong"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.Version(); !errors.Is(err, ErrAuth) {
		t.Fatalf("want ErrAuth, got %v", err)
	}
	c.Close()
	if _, err = New(opts(&Auth{"a b", "x"})); !errors.Is(err, ErrConfig) {
		t.Fatalf("want ErrConfig for a user name with a space, got %v", err)
	}
}
