package service

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ClientConfig is how a client reaches a serving role.
type ClientConfig struct {
	// Token is sent as a bearer token when set.
	Token string
	// TLS turns on TLS; CAFile verifies the server (system roots when empty); CertFile and
	// KeyFile present a client certificate for mTLS.
	TLS        bool
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
	// MaxRecvBytes raises the receive limit (default gRPC's 4 MiB).
	MaxRecvBytes int
	Logger       *slog.Logger
}

// Dial opens a client connection to addr with the configured credentials. It does not
// block; the first call connects.
func Dial(addr string, cfg ClientConfig) (*grpc.ClientConn, error) {
	var opts []grpc.DialOption
	if cfg.TLS {
		tc := &tls.Config{ServerName: cfg.ServerName, MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("dial %s: CA: %w", addr, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("dial %s: CA %s has no PEM certificates", addr, cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		if cfg.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("dial %s: client certificate: %w", addr, err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if cfg.Token != "" {
		if !cfg.TLS && !loopbackHost(addr) && cfg.Logger != nil {
			cfg.Logger.Warn("sending a bearer token without TLS to a non-loopback address", "addr", addr)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(BearerToken(cfg.Token, cfg.TLS)))
	}
	if cfg.MaxRecvBytes > 0 {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.MaxRecvBytes)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

func loopbackHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
