package service

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/validator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TLSConfig names PEM files for the gRPC server. ClientCA turns on mutual TLS.
type TLSConfig struct {
	CertFile string
	KeyFile  string
	ClientCA string
}

// Enabled reports whether a certificate is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" }

func (t TLSConfig) validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return fmt.Errorf("tls: certificate %q and key %q must be given together", t.CertFile, t.KeyFile)
	}
	if t.ClientCA != "" && t.CertFile == "" {
		return errors.New("tls: a client CA (mTLS) needs a server certificate and key")
	}
	return nil
}

func (t TLSConfig) serverCredentials() (credentials.TransportCredentials, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load %s / %s: %w", t.CertFile, t.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCA != "" {
		pem, err := os.ReadFile(t.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: client CA %s: no PEM certificates", t.ClientCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(cfg), nil
}

// GRPCConfig configures a serving role's gRPC server and its /metrics endpoint.
type GRPCConfig struct {
	// Addr is the gRPC listen address (default 127.0.0.1:0, a random loopback port).
	Addr string
	// MetricsAddr is the HTTP listen address of /metrics; "" disables it, ":0"-style
	// addresses pick a random port.
	MetricsAddr string
	// Token, when set, is the bearer token every call except health must carry.
	Token string
	TLS   TLSConfig
	// MaxRecvBytes bounds a received message (default gRPC's 4 MiB).
	MaxRecvBytes int
}

func (c *GRPCConfig) validate() error {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("grpc address %q: %w", c.Addr, err)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("metrics address %q: %w", c.MetricsAddr, err)
		}
	}
	return c.TLS.validate()
}

// GRPCServer is a gRPC server with latexblend's middleware chain (metrics, slog logging,
// bearer auth except for health, request validation, panic recovery), the standard
// health service, and an optional Prometheus /metrics HTTP endpoint.
type GRPCServer struct {
	Server   *grpc.Server
	Health   *health.Server
	Registry *prometheus.Registry

	cfg         GRPCConfig
	log         *slog.Logger
	metrics     *grpcprom.ServerMetrics
	lis         net.Listener
	metricsLis  net.Listener
	metricsHTTP *http.Server
	serveErr    chan error
}

// NewGRPCServer builds the server; register services on Server, then call Start.
func NewGRPCServer(cfg GRPCConfig, log *slog.Logger) (*GRPCServer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(metrics)

	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	panicToInternal := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in handler", "panic", p, "stack", string(debug.Stack()))
		return status.Errorf(codes.Internal, "internal error: %v", p)
	})
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall)}

	unary := []grpc.UnaryServerInterceptor{
		metrics.UnaryServerInterceptor(),
		logging.UnaryServerInterceptor(logger, logOpts...),
	}
	stream := []grpc.StreamServerInterceptor{
		metrics.StreamServerInterceptor(),
		logging.StreamServerInterceptor(logger, logOpts...),
	}
	if cfg.Token != "" {
		unary = append(unary, selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(bearerAuth(cfg.Token)), selector.MatchFunc(notHealth)))
		stream = append(stream, selector.StreamServerInterceptor(auth.StreamServerInterceptor(bearerAuth(cfg.Token)), selector.MatchFunc(notHealth)))
	}
	unary = append(unary, validator.UnaryServerInterceptor(), recovery.UnaryServerInterceptor(panicToInternal))
	stream = append(stream, validator.StreamServerInterceptor(), recovery.StreamServerInterceptor(panicToInternal))

	opts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...)}
	if cfg.MaxRecvBytes > 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(cfg.MaxRecvBytes))
	}
	if cfg.TLS.Enabled() {
		creds, err := cfg.TLS.serverCredentials()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(creds))
	}
	s := &GRPCServer{
		Server: grpc.NewServer(opts...), Health: health.NewServer(), Registry: reg,
		cfg: cfg, log: log, metrics: metrics, serveErr: make(chan error, 2),
	}
	grpc_health_v1.RegisterHealthServer(s.Server, s.Health)
	return s, nil
}

// Start listens and serves in the background. Register every service before calling it.
func (s *GRPCServer) Start() error {
	lis, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("grpc listen %s: %w", s.cfg.Addr, err)
	}
	s.lis = lis
	if s.cfg.Token != "" && !s.cfg.TLS.Enabled() && !isLoopback(lis.Addr()) {
		s.log.Warn("bearer token accepted without TLS on a non-loopback address; tokens travel in clear text",
			"addr", lis.Addr().String())
	}
	s.metrics.InitializeMetrics(s.Server)
	go func() { s.serveErr <- s.Server.Serve(lis) }()
	if s.cfg.MetricsAddr != "" {
		ml, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			s.Server.Stop()
			return fmt.Errorf("metrics listen %s: %w", s.cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry}))
		s.metricsLis = ml
		s.metricsHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := s.metricsHTTP.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.serveErr <- err
			}
		}()
	}
	return nil
}

// Addr is the address the gRPC server listens on (valid after Start).
func (s *GRPCServer) Addr() string {
	if s.lis == nil {
		return ""
	}
	return s.lis.Addr().String()
}

// MetricsAddr is the address of the /metrics endpoint, or "".
func (s *GRPCServer) MetricsAddr() string {
	if s.metricsLis == nil {
		return ""
	}
	return s.metricsLis.Addr().String()
}

// Stop drains in-flight calls for up to grace, then closes everything.
func (s *GRPCServer) Stop(grace time.Duration) {
	s.Health.Shutdown()
	done := make(chan struct{})
	go func() { s.Server.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.Server.Stop()
		<-done
	}
	if s.metricsHTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		s.metricsHTTP.Shutdown(ctx)
		cancel()
	}
}

func isLoopback(a net.Addr) bool {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	return false
}
