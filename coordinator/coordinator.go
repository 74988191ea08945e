package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// LeaderKey is the election prefix coordinators campaign on.
const LeaderKey = service.KeyRoot + "leader/coordinator"

// Config configures a coordinator.
type Config struct {
	// Node is the common lifecycle configuration; its Role is set to coordinator and it
	// must carry a GRPC config (the coordinator serves the Coordinator API).
	Node service.Config
	// NATSURL is the NATS server holding the object-store buckets.
	NATSURL string
	// ElectionTTL is the leadership lease TTL (default 5 s): how long a crashed leader
	// blocks a standby.
	ElectionTTL time.Duration
	// ScheduleInterval is how often the leader reconciles jobs and trainers besides
	// reacting to etcd changes (default 1 s).
	ScheduleInterval time.Duration
	// UploadGrace is how long an upload under uploads/<upload_id>/ may stay unreferenced
	// by any job before the leader's janitor deletes it (default 15 min): the time a
	// client has between its first upload and SubmitConceptJob.
	UploadGrace time.Duration
	// JanitorInterval is how often the leader looks for orphaned uploads (default 1 min).
	JanitorInterval time.Duration
	// MaxImageBytes bounds one uploaded image (default and ceiling: the API's
	// MaxImageBytes).
	MaxImageBytes int64
	// BaseModelID is the cluster's base model identity, used to validate imported
	// entries besides the identities of live trainers and samplers. Optional.
	BaseModelID string
}

// Validate fills defaults and reports the first invalid field.
func (c *Config) Validate() error {
	c.Node.Role = service.RoleCoordinator
	if c.Node.GRPC == nil {
		c.Node.GRPC = &service.GRPCConfig{}
	}
	if c.ElectionTTL == 0 {
		c.ElectionTTL = 5 * time.Second
	}
	if c.ElectionTTL < 2*time.Second {
		return fmt.Errorf("coordinator config: election TTL %s is below etcd's 2s minimum", c.ElectionTTL)
	}
	if c.ScheduleInterval == 0 {
		c.ScheduleInterval = time.Second
	}
	if c.UploadGrace == 0 {
		c.UploadGrace = 15 * time.Minute
	}
	if c.JanitorInterval == 0 {
		c.JanitorInterval = time.Minute
	}
	if c.MaxImageBytes == 0 {
		c.MaxImageBytes = pb.MaxImageBytes
	}
	if c.ScheduleInterval < 0 || c.UploadGrace < 0 || c.JanitorInterval < 0 {
		return errors.New("coordinator config: negative interval")
	}
	if c.MaxImageBytes < 0 || c.MaxImageBytes > pb.MaxImageBytes {
		return fmt.Errorf("coordinator config: max image bytes %d out of range 1..%d", c.MaxImageBytes, pb.MaxImageBytes)
	}
	return c.Node.Validate()
}

// Coordinator is one coordinator replica. Every replica serves the API; only the elected
// leader schedules.
type Coordinator struct {
	cfg    Config
	node   *service.Node
	log    *slog.Logger
	leader atomic.Bool
	// crashed makes the campaign skip its resignation (Crash).
	crashed atomic.Bool

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	session *concurrency.Session

	nc      *nats.Conn
	buckets map[string]jetstream.ObjectStore
}

// New validates cfg and builds the coordinator without starting it.
func New(cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	node, err := service.NewNode(cfg.Node)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, node: node, log: node.Log}
	registerAPI(c)
	return c, nil
}

// Node exposes the lifecycle (address, id, etcd client).
func (c *Coordinator) Node() *service.Node { return c.node }

// Addr is the gRPC address (valid after Start).
func (c *Coordinator) Addr() string { return c.node.GRPC.Addr() }

// IsLeader reports whether this replica currently holds the leadership.
func (c *Coordinator) IsLeader() bool { return c.leader.Load() }

// Start registers the member, serves the API and campaigns for leadership in the
// background.
func (c *Coordinator) Start(ctx context.Context) error {
	if c.cfg.NATSURL != "" {
		nc, err := nats.Connect(c.cfg.NATSURL, nats.Name("latexblend-coordinator-"+c.node.ID()))
		if err != nil {
			return fmt.Errorf("coordinator: NATS %s: %w", c.cfg.NATSURL, err)
		}
		js, err := jetstream.New(nc)
		if err == nil {
			c.buckets, err = trainer.OpenBuckets(ctx, js)
		}
		if err != nil {
			nc.Close()
			return fmt.Errorf("coordinator: %w", err)
		}
		c.nc = nc
	}
	if err := c.node.Start(ctx); err != nil {
		c.closeNATS()
		return err
	}
	s, err := concurrency.NewSession(c.node.Etcd, concurrency.WithTTL(int(c.cfg.ElectionTTL/time.Second)))
	if err != nil {
		c.node.Close()
		c.closeNATS()
		return fmt.Errorf("coordinator: election session: %w", err)
	}
	c.session = s
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.campaign(runCtx)
	}()
	return nil
}

// campaign blocks until this replica leads, then holds the leadership until the context
// ends or the session is lost.
func (c *Coordinator) campaign(ctx context.Context) {
	e := concurrency.NewElection(c.session, LeaderKey)
	if err := e.Campaign(ctx, c.node.ID()); err != nil {
		if ctx.Err() == nil {
			c.log.Error("leader campaign failed", "err", err)
		}
		return
	}
	c.leader.Store(true)
	c.log.Info("became leader")
	leadCtx, stopLeading := context.WithCancel(ctx)
	leading := make(chan struct{})
	go func() {
		defer close(leading)
		c.lead(leadCtx)
	}()
	select {
	case <-ctx.Done():
		stopLeading()
		<-leading
		if !c.crashed.Load() {
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			e.Resign(rctx)
			cancel()
		}
	case <-c.session.Done():
		c.log.Warn("leadership lost: election session expired")
		stopLeading()
		<-leading
	}
	c.leader.Store(false)
}

// Leader returns the id of the current leader, or "" when there is none.
func Leader(ctx context.Context, cli *clientv3.Client) (string, error) {
	resp, err := cli.Get(ctx, LeaderKey+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("leader lookup: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// Close resigns, stops serving and deregisters. Idempotent.
func (c *Coordinator) Close() error {
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
		c.cancel = nil
	}
	var errs []error
	if c.session != nil {
		errs = append(errs, c.session.Close())
		c.session = nil
	}
	errs = append(errs, c.node.Close())
	c.closeNATS()
	return errors.Join(errs...)
}

// Crash stops the replica as a killed process would: no resignation, no deregistration;
// its leadership and member record expire with their leases. For fault-injection tests.
func (c *Coordinator) Crash() {
	c.crashed.Store(true)
	if c.session != nil {
		c.session.Orphan()
	}
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
		c.cancel = nil
	}
	c.session = nil // orphaned: Close must not revoke it
	c.node.Crash()
	c.closeNATS()
}

func (c *Coordinator) closeNATS() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}
