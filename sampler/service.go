package sampler

import (
	"context"
	"fmt"
	"path/filepath"

	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/service"
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
}

// Validate fills defaults and reports the first invalid field.
func (c *ServiceConfig) Validate() error {
	c.Node.Role = service.RoleSampler
	if c.Node.GRPC == nil {
		c.Node.GRPC = &service.GRPCConfig{}
	}
	if c.Node.Capacity == 0 {
		c.Node.Capacity = 1
	}
	if c.ModelDir != "" && c.Node.BaseModelID == "" {
		id, err := diffusers.Identity(c.ModelDir)
		if err != nil {
			return fmt.Errorf("sampler config: base model %s: %w", c.ModelDir, err)
		}
		c.Node.BaseModelID, c.Node.BaseModel = id, filepath.Base(filepath.Clean(c.ModelDir))
	}
	return c.Node.Validate()
}

// Service is a sampler node. It reports NOT_SERVING on gRPC health until its base model
// is ready.
type Service struct {
	cfg  ServiceConfig
	node *service.Node
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
	return &Service{cfg: cfg, node: node}, nil
}

// Node exposes the lifecycle (address, id, etcd client, registration).
func (s *Service) Node() *service.Node { return s.node }

// Addr is the gRPC address (valid after Start).
func (s *Service) Addr() string { return s.node.GRPC.Addr() }

// Start serves gRPC, registers the sampler and marks it SERVING.
func (s *Service) Start(ctx context.Context) error {
	if err := s.node.Start(ctx); err != nil {
		return err
	}
	s.node.GRPC.Health.SetServingStatus("", grpc_health_v1.HealthCheckResponse_SERVING)
	return nil
}

// Close stops serving and deregisters. Idempotent.
func (s *Service) Close() error { return s.node.Close() }
