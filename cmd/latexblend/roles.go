package main

import (
	"context"
	"fmt"

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

// runRole starts svc, prints a ready line, and blocks until the command's context ends
// (Ctrl-C or SIGTERM), then shuts the service down cleanly.
func runRole(cmd *cobra.Command, svc lifecycle) error {
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
			if err := f.resolve(); err != nil {
				return err
			}
			log, err := newLogger(f.logLevel)
			if err != nil {
				return err
			}
			c, err := coordinator.New(coordinator.Config{Node: f.serviceConfig(service.RoleCoordinator, log, true), NATSURL: f.nats})
			if err != nil {
				return err
			}
			return runRole(cmd, c)
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
			if err := f.resolve(); err != nil {
				return err
			}
			log, err := newLogger(f.logLevel)
			if err != nil {
				return err
			}
			t, err := trainer.NewService(trainer.ServiceConfig{Node: f.serviceConfig(service.RoleTrainer, log, false), NATSURL: f.nats, ModelDir: f.model})
			if err != nil {
				return err
			}
			return runRole(cmd, t)
		},
	}
	f.register(cmd, false)
	return cmd
}

func newSamplerCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "sampler",
		Short: "Run a sampler node serving Generate over gRPC",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.resolve(); err != nil {
				return err
			}
			log, err := newLogger(f.logLevel)
			if err != nil {
				return err
			}
			s, err := sampler.NewService(sampler.ServiceConfig{Node: f.serviceConfig(service.RoleSampler, log, true), NATSURL: f.nats, ModelDir: f.model})
			if err != nil {
				return err
			}
			return runRole(cmd, s)
		},
	}
	f.register(cmd, true)
	return cmd
}
