package service_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/latexblend/latexblend/service"
)

// pki writes a CA plus a server and a client certificate signed by it into dir.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "latexblend test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kb)
	}
	p := pki{ca: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func TestMutualTLS(t *testing.T) {
	c := startCluster(t)
	p := newPKI(t)
	ts := &testService{}
	n := startNode(t, service.Config{
		Role: service.RoleSampler, EtcdEndpoints: c.EtcdEndpoints,
		GRPC: &service.GRPCConfig{Token: "tok", TLS: service.TLSConfig{CertFile: p.serverCert, KeyFile: p.serverKey, ClientCA: p.ca}},
	}, ts.register)

	call := func(cfg service.ClientConfig) error {
		conn, err := service.Dial(n.GRPC.Addr(), cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Invoke(t.Context(), "/latexblend.test.Echo/Ok", &emptypb.Empty{}, &emptypb.Empty{})
	}
	full := service.ClientConfig{Token: "tok", TLS: true, CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey}
	if err := call(full); err != nil {
		t.Fatalf("mTLS call with token: %v", err)
	}
	noCert := full
	noCert.CertFile, noCert.KeyFile = "", ""
	if err := call(noCert); status.Code(err) != codes.Unavailable {
		t.Errorf("call without a client certificate: %v, want Unavailable (handshake refused)", err)
	}
	plain := service.ClientConfig{Token: "tok"}
	if err := call(plain); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext call to a TLS server: %v, want Unavailable", err)
	}
	wrongTok := full
	wrongTok.Token = "nope"
	if err := call(wrongTok); status.Code(err) != codes.Unauthenticated {
		t.Errorf("mTLS call with a wrong token: %v, want Unauthenticated", err)
	}
	// Health over TLS.
	conn, err := service.Dial(n.GRPC.Addr(), full)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if r, err := grpc_health_v1.NewHealthClient(conn).Check(t.Context(), &grpc_health_v1.HealthCheckRequest{}); err != nil || r.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Fatalf("health over TLS: %v %v", r, err)
	}
	if ts.calls.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", ts.calls.Load())
	}
}
