package trainer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/service"
)

// ServiceConfig configures a trainer node.
type ServiceConfig struct {
	// Node is the common lifecycle configuration; its Role is set to trainer.
	Node service.Config
	// NATSURL is the NATS server carrying the all-reduce ring and the object store.
	// Empty: the node registers but cannot execute jobs.
	NATSURL string
	// ModelDir is the diffusers folder of the base model this trainer fine-tunes.
	ModelDir string
	// Runner is the training work of a gang. Nil: assigned jobs fail with a message
	// saying this trainer cannot train.
	Runner JobRunner
	// RingTimeout is the all-reduce progress timeout (default 30 s). Keep it above the
	// member TTL, so a crashed peer is replaced by a new generation before survivors
	// give up on it.
	RingTimeout time.Duration
	// ProgressInterval bounds how often rank 0 writes progress to etcd (default 250 ms).
	ProgressInterval time.Duration
	// PollInterval is how often the node re-reads its claim besides watching it
	// (default 1 s).
	PollInterval time.Duration
}

// Validate fills defaults and reports the first invalid field.
func (c *ServiceConfig) Validate() error {
	c.Node.Role = service.RoleTrainer
	if c.Node.Capacity == 0 {
		c.Node.Capacity = 1
	}
	if c.ModelDir != "" && c.Node.BaseModelID == "" {
		id, err := diffusers.Identity(c.ModelDir)
		if err != nil {
			return fmt.Errorf("trainer config: base model %s: %w", c.ModelDir, err)
		}
		c.Node.BaseModelID, c.Node.BaseModel = id, filepath.Base(filepath.Clean(c.ModelDir))
	}
	if c.RingTimeout == 0 {
		c.RingTimeout = 30 * time.Second
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 250 * time.Millisecond
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.RingTimeout < 0 || c.ProgressInterval < 0 || c.PollInterval < 0 {
		return errors.New("trainer config: negative interval")
	}
	return c.Node.Validate()
}

// Service is a trainer node: it registers in etcd, watches its claim and assignment,
// joins the gang's all-reduce ring and runs the assigned jobs with its JobRunner.
type Service struct {
	cfg  ServiceConfig
	node *service.Node

	nc      *nats.Conn
	buckets map[string]jetstream.ObjectStore
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stop    sync.Once
	// crashed is set by Crash: a dying node must not judge the job by the errors its
	// own death causes (a killed process would not write anything either).
	crashed atomic.Bool
}

// NewService validates cfg and builds the trainer node without starting it.
func NewService(cfg ServiceConfig) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	node, err := service.NewNode(cfg.Node)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, node: node}, nil
}

// Node exposes the lifecycle (id, etcd client, registration).
func (s *Service) Node() *service.Node { return s.node }

// Start connects to NATS, registers the trainer and starts executing assignments.
func (s *Service) Start(ctx context.Context) error {
	if s.cfg.NATSURL != "" {
		nc, err := nats.Connect(s.cfg.NATSURL, nats.Name("latexblend-trainer-"+s.node.ID()))
		if err != nil {
			return fmt.Errorf("trainer: NATS %s: %w", s.cfg.NATSURL, err)
		}
		js, err := jetstream.New(nc)
		if err == nil {
			s.buckets, err = OpenBuckets(ctx, js)
		}
		if err != nil {
			nc.Close()
			return fmt.Errorf("trainer: %w", err)
		}
		s.nc = nc
	}
	if err := s.node.Start(ctx); err != nil {
		if s.nc != nil {
			s.nc.Close()
		}
		return err
	}
	if s.nc == nil {
		s.node.Log.Warn("trainer has no NATS URL: it will not execute jobs")
		return nil
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(runCtx)
	}()
	return nil
}

// halt stops the assignment loop and any running job.
func (s *Service) halt() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
}

// Close stops the running job, deregisters the trainer and closes its connections.
// Idempotent.
func (s *Service) Close() error {
	var err error
	s.stop.Do(func() {
		s.halt()
		if s.nc != nil {
			s.nc.Close()
		}
		err = s.node.Close()
	})
	return err
}

// Crash stops the trainer as a killed process would: the NATS connection drops first
// (peers hear no goodbye), the job stops, and the member record and claim stay in etcd
// until the lease expires. For fault-injection tests.
func (s *Service) Crash() {
	s.stop.Do(func() {
		s.crashed.Store(true)
		if s.nc != nil {
			s.nc.Close()
		}
		s.halt()
		s.node.Crash()
	})
}
