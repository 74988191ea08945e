package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Config is the part of every role's configuration that the common lifecycle owns.
type Config struct {
	// Role is the kind of node (coordinator, trainer, sampler).
	Role Role
	// ID is the member id; empty means a new ULID.
	ID string
	// EtcdEndpoints are the etcd client URLs. Required.
	EtcdEndpoints []string
	// EtcdDialTimeout bounds the first connection (default 5 s).
	EtcdDialTimeout time.Duration
	// MemberTTL is the lease TTL of the member record (default 10 s, at least 2 s: etcd's
	// minimum with default election settings).
	MemberTTL time.Duration
	// GRPC configures the gRPC server of serving roles; nil means the role serves no gRPC.
	GRPC *GRPCConfig
	// Capacity is what the member advertises (trainer slots, sampler batch size).
	Capacity int
	// Version is the software version recorded in the member record.
	Version string
	// BaseModelID is the identity digest of the loaded base model (trainers, samplers).
	BaseModelID string
	// BaseModel is a human-readable name of the base model (its folder).
	BaseModel string
	// ShutdownGrace bounds how long Close waits for in-flight calls (default 5 s).
	ShutdownGrace time.Duration
	// Logger receives the node's logs (default: discard).
	Logger *slog.Logger
}

// Validate fills defaults and reports the first invalid field.
func (c *Config) Validate() error {
	if !c.Role.Valid() {
		return fmt.Errorf("config: role %q is not one of %v", c.Role, Roles)
	}
	if c.ID == "" {
		c.ID = NewID()
	}
	if len(c.EtcdEndpoints) == 0 {
		return errors.New("config: etcd endpoints are required (--etcd)")
	}
	if c.EtcdDialTimeout == 0 {
		c.EtcdDialTimeout = 5 * time.Second
	}
	if c.MemberTTL == 0 {
		c.MemberTTL = 10 * time.Second
	}
	if c.MemberTTL < 2*time.Second {
		return fmt.Errorf("config: member TTL %s is below etcd's 2s minimum", c.MemberTTL)
	}
	if c.Capacity < 0 {
		return fmt.Errorf("config: capacity %d is negative", c.Capacity)
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.GRPC != nil {
		if err := c.GRPC.validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// Node is the lifecycle every role shares: an etcd client, an optional gRPC server and a
// lease-bound member record. Build it with NewNode, register gRPC services on GRPC.Server,
// then Start; Close undoes everything in reverse order.
type Node struct {
	cfg  Config
	Log  *slog.Logger
	GRPC *GRPCServer
	Etcd *clientv3.Client

	reg       *Registration
	closeOnce sync.Once
	closeErr  error
}

// NewNode validates cfg and builds the gRPC server (if any) without starting anything.
func NewNode(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, Log: cfg.Logger.With("role", string(cfg.Role), "id", cfg.ID)}
	if cfg.GRPC != nil {
		s, err := NewGRPCServer(*cfg.GRPC, n.Log)
		if err != nil {
			return nil, err
		}
		n.GRPC = s
	}
	return n, nil
}

// ID is the member id.
func (n *Node) ID() string { return n.cfg.ID }

// Role is the node's role.
func (n *Node) Role() Role { return n.cfg.Role }

// Config returns the validated configuration.
func (n *Node) Config() Config { return n.cfg }

// Registration is the live member record (nil before Start).
func (n *Node) Registration() *Registration { return n.reg }

// Start connects to etcd, starts serving gRPC and registers the member record.
func (n *Node) Start(ctx context.Context) error {
	cli, err := NewEtcdClient(ctx, n.cfg.EtcdEndpoints, n.cfg.EtcdDialTimeout)
	if err != nil {
		return err
	}
	n.Etcd = cli
	m := Member{
		ID: n.cfg.ID, Role: n.cfg.Role, Capacity: n.cfg.Capacity, Version: n.cfg.Version,
		BaseModelID: n.cfg.BaseModelID, BaseModel: n.cfg.BaseModel, Started: time.Now().UTC(),
	}
	if n.GRPC != nil {
		if err := n.GRPC.Start(); err != nil {
			cli.Close()
			return err
		}
		m.Address, m.MetricsAddr = n.GRPC.Addr(), n.GRPC.MetricsAddr()
	}
	reg, err := Register(ctx, cli, m, n.cfg.MemberTTL)
	if err != nil {
		if n.GRPC != nil {
			n.GRPC.Stop(0)
		}
		cli.Close()
		return err
	}
	n.reg = reg
	n.Log.Info("member registered", "key", reg.Key(), "addr", m.Address, "metrics", m.MetricsAddr)
	return nil
}

// Close deregisters the member, drains gRPC and closes the etcd client. Idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.GRPC != nil {
			n.GRPC.Stop(n.cfg.ShutdownGrace)
		}
		if n.reg != nil {
			errs = append(errs, n.reg.Close(context.Background()))
		}
		if n.Etcd != nil {
			errs = append(errs, n.Etcd.Close())
		}
		n.closeErr = errors.Join(errs...)
		n.Log.Info("member closed")
	})
	return n.closeErr
}

// Crash stops the keepalive and the server without deregistering, as a killed process
// would: the member record stays until its lease expires. For fault-injection tests.
func (n *Node) Crash() {
	n.closeOnce.Do(func() {
		if n.reg != nil {
			n.reg.Abandon()
		}
		if n.GRPC != nil {
			n.GRPC.Stop(0)
		}
		if n.Etcd != nil {
			n.Etcd.Close()
		}
	})
}

// NewEtcdClient connects to etcd and checks the connection within dialTimeout, so that a
// wrong endpoint fails fast with a clear error instead of hanging the first request.
func NewEtcdClient(ctx context.Context, endpoints []string, dialTimeout time.Duration) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: dialTimeout, Logger: zap.NewNop(), Context: context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w", endpoints, err)
	}
	cctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if _, err := cli.Get(cctx, KeyRoot+"probe"); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd %v unreachable: %w", endpoints, err)
	}
	return cli, nil
}
