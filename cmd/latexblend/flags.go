package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/devcluster"
	"github.com/latexblend/latexblend/service"
)

// nodeFlags are the flags every cluster role takes.
type nodeFlags struct {
	etcd        []string
	nats        string
	id          string
	listen      string
	metrics     string
	token       string
	tlsCert     string
	tlsKey      string
	tlsClientCA string
	model       string
	memberTTL   int
	logLevel    string
}

func (f *nodeFlags) register(cmd *cobra.Command, serving bool) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.etcd, "etcd", nil, "etcd client URLs, comma-separated (default: the dev cluster's endpoints file)")
	fl.StringVar(&f.nats, "nats", "", "NATS server URL (default: the dev cluster's endpoints file)")
	fl.StringVar(&f.id, "id", "", "member id (default: a new ULID)")
	fl.StringVar(&f.model, "model", "", "base model: a diffusers folder")
	fl.IntVar(&f.memberTTL, "member-ttl", 10, "seconds before a member that stopped heartbeating is dropped from etcd")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	if serving {
		fl.StringVar(&f.listen, "listen", "127.0.0.1:0", "gRPC listen address")
		fl.StringVar(&f.metrics, "metrics-listen", "127.0.0.1:0", `Prometheus /metrics listen address ("" disables)`)
		fl.StringVar(&f.token, "token", "", "bearer token required on every call except health (default $"+service.TokenEnv+")")
		fl.StringVar(&f.tlsCert, "tls-cert", "", "server certificate (PEM) for gRPC TLS")
		fl.StringVar(&f.tlsKey, "tls-key", "", "server private key (PEM)")
		fl.StringVar(&f.tlsClientCA, "tls-client-ca", "", "CA (PEM) that client certificates must chain to (mutual TLS)")
	}
}

// resolve fills etcd/NATS from the dev cluster's endpoints file when no flag gave them.
func (f *nodeFlags) resolve() error {
	if f.token == "" {
		f.token = os.Getenv(service.TokenEnv)
	}
	if len(f.etcd) > 0 && f.nats != "" {
		return nil
	}
	path, err := devcluster.EndpointsPath()
	if err != nil {
		return err
	}
	e, err := devcluster.ReadEndpoints(path)
	if err != nil {
		return fmt.Errorf("--etcd and --nats not given and %w", err)
	}
	if len(f.etcd) == 0 {
		f.etcd = e.Etcd
	}
	if f.nats == "" {
		f.nats = e.NATS
	}
	if f.token == "" {
		f.token = e.Token
	}
	return nil
}

func (f *nodeFlags) serviceConfig(role service.Role, log *slog.Logger, serving bool) service.Config {
	cfg := service.Config{
		Role: role, ID: f.id, EtcdEndpoints: f.etcd, Version: buildVersion(), Logger: log,
	}
	if f.memberTTL > 0 {
		cfg.MemberTTL = secondsDuration(f.memberTTL)
	}
	if serving {
		cfg.GRPC = &service.GRPCConfig{
			Addr: f.listen, MetricsAddr: f.metrics, Token: f.token,
			TLS: service.TLSConfig{CertFile: f.tlsCert, KeyFile: f.tlsKey, ClientCA: f.tlsClientCA},
		}
	}
	return cfg
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// clientFlags locate the cluster for client commands.
type clientFlags struct {
	etcd        []string
	coordinator string
	token       string
	tls         bool
	tlsCA       string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.etcd, "etcd", nil, "etcd client URLs (default: the dev cluster's endpoints file)")
	fl.StringVar(&f.coordinator, "coordinator", "", "coordinator gRPC address (default: discovered through etcd)")
	fl.StringVar(&f.token, "token", "", "bearer token (default $"+service.TokenEnv+", then the dev cluster's)")
	fl.BoolVar(&f.tls, "tls", false, "use TLS to reach the coordinator")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "CA (PEM) to verify the coordinator's certificate")
}

// resolve fills unset fields from the environment and the dev cluster's endpoints file.
func (f *clientFlags) resolve() error {
	if f.token == "" {
		f.token = os.Getenv(service.TokenEnv)
	}
	if len(f.etcd) > 0 || f.coordinator != "" {
		return nil
	}
	path, err := devcluster.EndpointsPath()
	if err != nil {
		return err
	}
	e, err := devcluster.ReadEndpoints(path)
	if err != nil {
		return err
	}
	f.etcd, f.coordinator = e.Etcd, e.Coordinator
	if f.token == "" {
		f.token = e.Token
	}
	return nil
}

func (f *clientFlags) clientConfig(log *slog.Logger) service.ClientConfig {
	return service.ClientConfig{Token: f.token, TLS: f.tls || f.tlsCA != "", CAFile: f.tlsCA, Logger: log}
}
