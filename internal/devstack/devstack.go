// Package devstack runs the whole latexblend system in one process: the embedded
// devcluster plus one coordinator, N trainers and M samplers. `latexblend dev`, `make
// demo` and the multi-role integration tests use it.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/latexblend/latexblend/coordinator"
	"github.com/latexblend/latexblend/devcluster"
	"github.com/latexblend/latexblend/sampler"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// Config describes the stack to start.
type Config struct {
	// Coordinators is the number of coordinator replicas (default 1); they elect a
	// leader among themselves.
	Coordinators int
	Trainers     int
	Samplers     int
	// ModelDir is the base model (diffusers folder) for trainers and samplers; "" starts
	// them without one.
	ModelDir string
	// Token protects the gRPC APIs; "" generates a random one. NoAuth disables auth.
	Token  string
	NoAuth bool
	// MemberTTL is the member lease TTL (default 10 s).
	MemberTTL time.Duration
	// Runner is the trainers' job runner. Nil with a ModelDir: the Custom Diffusion
	// runner (trainer.CDRunner) on that model, as real trainer nodes run. Nil without a
	// ModelDir: trainers accept jobs and fail them with a message saying they cannot
	// train.
	Runner trainer.JobRunner
	// Sampler tunes every sampler (MaxBatch, MaxWait, QueueSize, CacheBytes, and
	// Pipeline to share one loaded model in tests); Start fills its Node, NATSURL and,
	// unless Sampler.ModelDir is set, ModelDir.
	Sampler sampler.ServiceConfig
	// BaseModelID overrides the trainers' base model identity when ModelDir is empty
	// (tests that run a stand-in runner).
	BaseModelID string
	// Version is recorded in member records.
	Version string
	Logger  *slog.Logger
}

// Validate fills defaults and reports the first invalid field.
func (c *Config) Validate() error {
	if c.Coordinators == 0 {
		c.Coordinators = 1
	}
	if c.Coordinators < 1 || c.Coordinators > 8 {
		return fmt.Errorf("devstack: coordinators %d out of range 1..8", c.Coordinators)
	}
	if c.Trainers < 0 || c.Trainers > 64 {
		return fmt.Errorf("devstack: trainers %d out of range 0..64", c.Trainers)
	}
	if c.Samplers < 0 || c.Samplers > 64 {
		return fmt.Errorf("devstack: samplers %d out of range 0..64", c.Samplers)
	}
	if c.ModelDir != "" {
		if st, err := os.Stat(c.ModelDir); err != nil || !st.IsDir() {
			return fmt.Errorf("devstack: --model %s is not a directory", c.ModelDir)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Token == "" && !c.NoAuth {
		b := make([]byte, 16)
		rand.Read(b)
		c.Token = hex.EncodeToString(b)
	}
	return nil
}

// Stack is a running single-process cluster.
type Stack struct {
	Cluster *devcluster.Cluster
	// Coordinator is the first coordinator; Coordinators lists every replica.
	Coordinator  *coordinator.Coordinator
	Coordinators []*coordinator.Coordinator
	Trainers     []*trainer.Service
	Samplers     []*sampler.Service
	Token        string
	log          *slog.Logger
}

// Start boots the devcluster and every role, returning once all are registered.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := devcluster.Start(ctx, devcluster.Config{Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s := &Stack{Cluster: c, Token: cfg.Token, log: cfg.Logger}
	node := func(role service.Role, serving bool) service.Config {
		n := service.Config{Role: role, EtcdEndpoints: c.EtcdEndpoints, MemberTTL: cfg.MemberTTL, Version: cfg.Version, Logger: cfg.Logger}
		if serving {
			n.GRPC = &service.GRPCConfig{Token: cfg.Token, MetricsAddr: "127.0.0.1:0"}
		}
		return n
	}
	fail := func(err error) (*Stack, error) {
		s.Close()
		return nil, err
	}
	for range cfg.Coordinators {
		co, err := coordinator.New(coordinator.Config{Node: node(service.RoleCoordinator, true), NATSURL: c.NATSURL()})
		if err != nil {
			return fail(err)
		}
		if err := co.Start(ctx); err != nil {
			return fail(err)
		}
		s.Coordinators = append(s.Coordinators, co)
	}
	s.Coordinator = s.Coordinators[0]
	for range cfg.Trainers {
		n := node(service.RoleTrainer, false)
		if cfg.ModelDir == "" {
			n.BaseModelID = cfg.BaseModelID
		}
		runner := cfg.Runner
		if runner == nil && cfg.ModelDir != "" {
			runner = trainer.NewCDRunner(cfg.ModelDir)
		}
		t, err := trainer.NewService(trainer.ServiceConfig{Node: n, NATSURL: c.NATSURL(), ModelDir: cfg.ModelDir, Runner: runner})
		if err != nil {
			return fail(err)
		}
		if err := t.Start(ctx); err != nil {
			return fail(err)
		}
		s.Trainers = append(s.Trainers, t)
	}
	for range cfg.Samplers {
		sc := cfg.Sampler
		sc.Node, sc.NATSURL = node(service.RoleSampler, true), c.NATSURL()
		if sc.ModelDir == "" {
			sc.ModelDir = cfg.ModelDir
		}
		sm, err := sampler.NewService(sc)
		if err != nil {
			return fail(err)
		}
		if err := sm.Start(ctx); err != nil {
			return fail(err)
		}
		s.Samplers = append(s.Samplers, sm)
	}
	return s, nil
}

// Endpoints describes the stack for the endpoints file.
func (s *Stack) Endpoints() devcluster.Endpoints {
	e := devcluster.Endpoints{
		Etcd: s.Cluster.EtcdEndpoints, NATS: s.Cluster.NATSURL(), Token: s.Token,
		PID: os.Getpid(), Started: time.Now().UTC(),
	}
	if s.Coordinator != nil {
		e.Coordinator = s.Coordinator.Addr()
	}
	for _, sm := range s.Samplers {
		e.Samplers = append(e.Samplers, sm.Addr())
	}
	return e
}

// Close stops every role (samplers, trainers, coordinator: clients of etcd first) and
// then the devcluster. Idempotent.
func (s *Stack) Close() error {
	var errs []error
	for _, sm := range s.Samplers {
		errs = append(errs, sm.Close())
	}
	for _, t := range s.Trainers {
		errs = append(errs, t.Close())
	}
	for _, co := range s.Coordinators {
		errs = append(errs, co.Close())
	}
	if s.Cluster != nil {
		errs = append(errs, s.Cluster.Close())
	}
	return errors.Join(errs...)
}
