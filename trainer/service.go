package trainer

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/service"
)

// ServiceConfig configures a trainer node.
type ServiceConfig struct {
	// Node is the common lifecycle configuration; its Role is set to trainer.
	Node service.Config
	// NATSURL is the NATS server carrying the all-reduce ring and the object store.
	NATSURL string
	// ModelDir is the diffusers folder of the base model this trainer fine-tunes.
	ModelDir string
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
	return c.Node.Validate()
}

// Service is a trainer node: it registers in etcd and (from the coordinator issue on)
// executes the training jobs assigned to it.
type Service struct {
	cfg  ServiceConfig
	node *service.Node
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

// Start registers the trainer.
func (s *Service) Start(ctx context.Context) error { return s.node.Start(ctx) }

// Close deregisters the trainer. Idempotent.
func (s *Service) Close() error { return s.node.Close() }
