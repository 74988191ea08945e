package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/coordinator"
	"github.com/latexblend/latexblend/sampler"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

func init() {
	subcommands = append(subcommands, newCoordinatorCmd, newTrainerCmd, newSamplerCmd)
}

// lifecycle is what each role's service offers to the commands that run it.
type lifecycle interface {
	Start(ctx context.Context) error
	Close() error
	Node() *service.Node
}

// runRole resolves the node flags, builds the role's service with a logger at the
// requested level, starts it, prints a ready line, and blocks until the command's context
// ends (Ctrl-C or SIGTERM), then shuts the service down cleanly.
func runRole(cmd *cobra.Command, f *nodeFlags, build func(log *slog.Logger) (lifecycle, error)) error {
	if err := f.resolve(); err != nil {
		return err
	}
	log, err := newLogger(f.logLevel)
	if err != nil {
		return err
	}
	svc, err := build(log)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if err := svc.Start(ctx); err != nil {
		return err
	}
	n := svc.Node()
	addr := ""
	if n.GRPC != nil {
		addr = " addr=" + n.GRPC.Addr()
		if m := n.GRPC.MetricsAddr(); m != "" {
			addr += " metrics=http://" + m + "/metrics"
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s ready id=%s%s\n", n.Role(), n.ID(), addr)
	select {
	case <-ctx.Done():
	case <-n.Registration().Lost():
		svc.Close()
		return fmt.Errorf("%s %s lost its etcd membership lease", n.Role(), n.ID())
	}
	return svc.Close()
}

func newCoordinatorCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run a coordinator replica (jobs, leader election, scheduling, concept registry)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRole(cmd, &f, func(log *slog.Logger) (lifecycle, error) {
				return coordinator.New(coordinator.Config{Node: f.serviceConfig(service.RoleCoordinator, log, true), NATSURL: f.nats})
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

func newTrainerCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "trainer",
		Short: "Run a trainer node that executes the concept-onboarding jobs assigned to it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRole(cmd, &f, func(log *slog.Logger) (lifecycle, error) {
				cfg := trainer.ServiceConfig{Node: f.serviceConfig(service.RoleTrainer, log, false), NATSURL: f.nats, ModelDir: f.model}
				if f.model != "" {
					cfg.Runner = trainer.NewCDRunner(f.model) // the Custom Diffusion runner, as in the dev cluster
				}
				return trainer.NewService(cfg)
			})
		},
	}
	f.register(cmd, false)
	return cmd
}

func newSamplerCmd() *cobra.Command {
	var (
		f   nodeFlags
		cfg sampler.ServiceConfig
	)
	cmd := &cobra.Command{
		Use:   "sampler --model DIR [--max-batch N] [--max-wait D] [--queue N] [--cache-bytes N]",
		Short: "Run a sampler node serving Generate over gRPC",
		Long: `Runs a sampler node against etcd and NATS (--etcd/--nats, or a running dev cluster's
endpoints file): it loads the base model once (gRPC health turns SERVING when it is
loaded), fetches concepts from the bank into an LRU cache of --cache-bytes, batches
requests that share size, steps and scheduler into one UNet batch of up to --max-batch
images (waiting at most --max-wait for companions), and refuses requests beyond a queue
of --queue with ResourceExhausted and a retry-after-ms trailer. Its queue depth is kept
in its etcd member record and its cached concepts under /latexblend/sampler-state/<id>,
which ` + "`latexblend generate --cluster`" + ` uses to route requests.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRole(cmd, &f, func(log *slog.Logger) (lifecycle, error) {
				if f.model == "" {
					return nil, fmt.Errorf("sampler: --model DIR is required (the base model to serve)")
				}
				cfg.Node, cfg.NATSURL, cfg.ModelDir = f.serviceConfig(service.RoleSampler, log, true), f.nats, f.model
				if cfg.MaxWait == 0 {
					cfg.MaxWait = -1 // --max-wait 0 means no waiting
				}
				return sampler.NewService(cfg)
			})
		},
	}
	f.register(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&cfg.Variant, "variant", "", `weight file variant, e.g. "fp16" (widened to float32)`)
	fl.IntVar(&cfg.MaxBatch, "max-batch", sampler.DefaultMaxBatch, "most images in one UNet batch")
	fl.DurationVar(&cfg.MaxWait, "max-wait", sampler.DefaultMaxWait, "longest a request waits for others to share its batch")
	fl.IntVar(&cfg.QueueSize, "queue", sampler.DefaultQueueSize, "most requests waiting; beyond it Generate answers ResourceExhausted")
	fl.Int64Var(&cfg.CacheBytes, "cache-bytes", sampler.DefaultCacheBytes, "bound of the concept cache (decoded entry bytes)")
	return cmd
}
