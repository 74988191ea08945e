package sampler

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
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/sdxl"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// Defaults of ServiceConfig.
const (
	DefaultMaxBatch        = 8
	DefaultMaxWait         = 20 * time.Millisecond
	DefaultQueueSize       = 16
	DefaultCacheBytes      = 1 << 30
	DefaultPublishInterval = 250 * time.Millisecond
)

// ServiceConfig configures a sampler node.
type ServiceConfig struct {
	// Node is the common lifecycle configuration; its Role is set to sampler and it always
	// serves gRPC.
	Node service.Config
	// NATSURL is the NATS server holding the concept bank's object store.
	NATSURL string
	// ModelDir is the diffusers folder of the base model this sampler serves.
	ModelDir string
	// Variant selects weight files such as "fp16" (widened to float32).
	Variant string
	// Pipeline, when set, is an already loaded base model to serve instead of loading
	// ModelDir (in-process stacks and tests share one). The service does not close it.
	Pipeline *sdxl.Pipeline
	// MaxBatch bounds the images of one UNet batch (default 8); MaxWait is how long the
	// oldest waiting request waits for companions (default 20 ms; 0 keeps the default,
	// a negative value means no waiting).
	MaxBatch int
	MaxWait  time.Duration
	// QueueSize bounds the requests waiting to run (default 16); beyond it Generate
	// answers ResourceExhausted with a retry-after-ms trailer.
	QueueSize int
	// CacheBytes bounds the concept cache (decoded entries; default 1 GiB).
	CacheBytes int64
	// PublishInterval is the least time between two writes of the queue depth and cached
	// concepts to etcd (default 250 ms).
	PublishInterval time.Duration
}

// Validate fills defaults and reports the first invalid field.
func (c *ServiceConfig) Validate() error {
	c.Node.Role = service.RoleSampler
	if c.Node.GRPC == nil {
		c.Node.GRPC = &service.GRPCConfig{}
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	c.MaxWait = max(c.MaxWait, 0)
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.PublishInterval == 0 {
		c.PublishInterval = DefaultPublishInterval
	}
	switch {
	case c.MaxBatch < 1 || c.MaxBatch > 256:
		return fmt.Errorf("sampler config: max batch %d out of range 1..256 (--max-batch)", c.MaxBatch)
	case c.QueueSize < 1:
		return fmt.Errorf("sampler config: queue size %d must be at least 1 (--queue)", c.QueueSize)
	case c.CacheBytes < 0:
		return fmt.Errorf("sampler config: cache bytes %d is negative (--cache-bytes)", c.CacheBytes)
	}
	if c.Node.Capacity == 0 {
		c.Node.Capacity = c.MaxBatch
	}
	switch {
	case c.Pipeline != nil:
		c.Node.BaseModelID = c.Pipeline.Identity
		if c.Node.BaseModel == "" {
			c.Node.BaseModel = filepath.Base(filepath.Clean(c.Pipeline.Dir))
		}
	case c.ModelDir != "" && c.Node.BaseModelID == "":
		id, err := diffusers.IdentityVariant(c.ModelDir, c.Variant)
		if err != nil {
			return fmt.Errorf("sampler config: base model %s: %w", c.ModelDir, err)
		}
		c.Node.BaseModelID, c.Node.BaseModel = id, filepath.Base(filepath.Clean(c.ModelDir))
	}
	return c.Node.Validate()
}

// Service is a sampler node: the Sampler gRPC service over one loaded base model, a
// concept cache fed by the bank, a bounded queue with a batching worker, and the
// member record (queue depth) plus the published list of cached concepts that the
// routing client reads. It reports NOT_SERVING on gRPC health until its base model is
// loaded.
type Service struct {
	pb.UnimplementedSamplerServer

	cfg     ServiceConfig
	node    *service.Node
	metrics *metrics
	queue   *queue
	cache   *ConceptCache
	pub     *publisher

	pipeline *sdxl.Pipeline
	engine   *engine
	ready    atomic.Bool

	nc     *nats.Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// NewService validates cfg and builds the sampler node without starting it.
func NewService(cfg ServiceConfig) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	node, err := service.NewNode(cfg.Node)
	if err != nil {
		return nil, err
	}
	node.GRPC.Health.SetServingStatus("", grpc_health_v1.HealthCheckResponse_NOT_SERVING)
	s := &Service{cfg: cfg, node: node, metrics: newMetrics(node.GRPC.Registry)}
	s.queue = newQueue(cfg.QueueSize, cfg.MaxBatch, cfg.MaxWait, s.execute, func(d int) {
		s.metrics.queueDepth.Set(float64(d))
		if s.pub != nil {
			s.pub.kick()
		}
	})
	pb.RegisterSamplerServer(node.GRPC.Server, s)
	return s, nil
}

// Node exposes the lifecycle (address, id, etcd client, registration).
func (s *Service) Node() *service.Node { return s.node }

// Addr is the gRPC address (valid after Start).
func (s *Service) Addr() string { return s.node.GRPC.Addr() }

// ID is the member id.
func (s *Service) ID() string { return s.node.ID() }

// Cache is the node's concept cache (valid after Start).
func (s *Service) Cache() *ConceptCache { return s.cache }

// Ready reports whether the base model is loaded and Generate is served.
func (s *Service) Ready() bool { return s.ready.Load() }

// QueueDepth is the number of admitted, unfinished requests.
func (s *Service) QueueDepth() int { return s.queue.depth() }

// Start serves gRPC, registers the sampler, connects to the bank, loads the base model
// and then marks the node SERVING. Until then Generate answers Unavailable.
func (s *Service) Start(ctx context.Context) error {
	if err := s.node.Start(ctx); err != nil {
		return err
	}
	fail := func(err error) error {
		s.Close()
		return err
	}
	var store jetstream.ObjectStore
	if s.cfg.NATSURL != "" {
		nc, err := nats.Connect(s.cfg.NATSURL, nats.Name("latexblend-sampler-"+s.node.ID()))
		if err != nil {
			return fail(fmt.Errorf("sampler: nats %s: %w", s.cfg.NATSURL, err))
		}
		s.nc = nc
		js, err := jetstream.New(nc)
		if err != nil {
			return fail(fmt.Errorf("sampler: jetstream: %w", err))
		}
		if store, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: trainer.BucketConcepts}); err != nil {
			return fail(fmt.Errorf("sampler: object store bucket %q: %w", trainer.BucketConcepts, err))
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.pub = newPublisher(s.node, s.cfg.PublishInterval, s.queue.depth, s.node.Log)
	s.cache = NewConceptCache(CacheConfig{Etcd: s.node.Etcd, Store: store, Identity: s.cfg.Node.BaseModelID,
		MaxBytes: s.cfg.CacheBytes, OnChange: s.pub.kick, metrics: s.metrics})
	s.pub.names = s.cache.Names
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.cache.Watch(runCtx) }()
	go func() { defer s.wg.Done(); s.pub.loop(runCtx) }()
	go func() { defer s.wg.Done(); s.queue.work(runCtx) }()

	p := s.cfg.Pipeline
	if p == nil && s.cfg.ModelDir != "" {
		var err error
		if p, err = sdxl.Load(s.cfg.ModelDir, sdxl.LoadOptions{Variant: s.cfg.Variant, Logger: s.node.Log}); err != nil {
			return fail(fmt.Errorf("sampler: %w", err))
		}
	}
	if p == nil {
		s.node.Log.Warn("sampler has no base model (--model); it will not serve Generate")
		return nil
	}
	s.pipeline, s.engine = p, newEngine(p, s.node.Log)
	s.ready.Store(true)
	s.pub.setReady()
	s.node.GRPC.Health.SetServingStatus("", grpc_health_v1.HealthCheckResponse_SERVING)
	s.node.Log.Info("sampler ready", "model", p.Dir, "identity", p.Identity, "max_batch", s.cfg.MaxBatch, "queue", s.cfg.QueueSize)
	return nil
}

// Close stops serving (draining in-flight calls for the node's shutdown grace), the
// worker and the bank connection, and deregisters. Idempotent.
func (s *Service) Close() error {
	var err error
	s.closed.Do(func() {
		s.ready.Store(false)
		err = s.node.Close()
		s.stop()
	})
	return err
}

// Crash stops the node as a killed process would: in-flight calls fail, the member
// record stays until its lease expires. For fault-injection tests.
func (s *Service) Crash() {
	s.closed.Do(func() {
		s.ready.Store(false)
		s.node.Crash()
		s.stop()
	})
}

func (s *Service) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.nc != nil {
		s.nc.Close()
	}
	if s.pipeline != nil && s.cfg.Pipeline == nil {
		s.pipeline.Close()
	}
}

// errNotReady answers Generate before the base model is loaded.
var errNotReady = errors.New("sampler: the base model is not loaded (yet)")
