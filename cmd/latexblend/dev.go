package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/devcluster"
	"github.com/latexblend/latexblend/internal/devstack"
)

func init() { subcommands = append(subcommands, newDevCmd) }

func newDevCmd() *cobra.Command {
	var (
		cfg      devstack.Config
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run an embedded etcd + NATS and one coordinator, N trainers and M samplers in this process",
		Long: `dev starts a complete single-machine cluster: an embedded etcd and an embedded NATS
server with JetStream on random loopback ports, one coordinator, N trainers and M samplers.
It prints the endpoints and a ready line, and writes them to endpoints.json under
$LATEXBLEND_HOME/dev/ (default ~/.latexblend/dev/) so that client commands such as
"latexblend status" find the cluster without flags. Ctrl-C shuts everything down and
removes the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger, cfg.Version = log, buildVersion()
			path, err := devcluster.EndpointsPath()
			if err != nil {
				return err
			}
			if old, err := devcluster.ReadEndpoints(path); err == nil && processAlive(old.PID) {
				return fmt.Errorf("a dev cluster (pid %d) is already running; its endpoints are in %s", old.PID, path)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "starting dev cluster: 1 coordinator, %d trainers, %d samplers\n", cfg.Trainers, cfg.Samplers)
			t0 := time.Now()
			st, err := devstack.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			e := st.Endpoints()
			if err := devcluster.WriteEndpoints(path, e); err != nil {
				return err
			}
			defer os.Remove(path)
			fmt.Fprintf(out, "etcd:        %s\n", strings.Join(e.Etcd, ","))
			fmt.Fprintf(out, "nats:        %s\n", e.NATS)
			fmt.Fprintf(out, "coordinator: %s\n", e.Coordinator)
			for i, s := range e.Samplers {
				fmt.Fprintf(out, "sampler %d:   %s\n", i, s)
			}
			fmt.Fprintf(out, "endpoints:   %s\n", path)
			fmt.Fprintf(out, "dev cluster ready in %.1fs: coordinators=1 trainers=%d samplers=%d (Ctrl-C to stop)\n",
				time.Since(t0).Seconds(), len(st.Trainers), len(st.Samplers))
			<-cmd.Context().Done()
			fmt.Fprintln(out, "shutting down dev cluster")
			os.Remove(path)
			if err := st.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
				return err
			}
			fmt.Fprintln(out, "dev cluster stopped")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&cfg.Trainers, "trainers", 2, "number of trainers")
	fl.IntVar(&cfg.Samplers, "samplers", 1, "number of samplers")
	fl.StringVar(&cfg.ModelDir, "model", "", "base model: a diffusers folder")
	fl.StringVar(&cfg.Token, "token", "", "bearer token for the gRPC APIs (default: a random one, written to the endpoints file)")
	fl.StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	return cmd
}
