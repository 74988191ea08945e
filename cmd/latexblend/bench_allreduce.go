package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/allreduce"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchAllReduceCmd) }

func newBenchAllReduceCmd() *cobra.Command {
	var (
		cfg  allreduce.BenchConfig
		wire string
	)
	cmd := &cobra.Command{
		Use:   "allreduce",
		Short: "Time the NATS ring all-reduce against plain NATS publish/subscribe of the same traffic",
		Long: `Starts embedded nats-servers (a NATS cluster when --servers > 1), joins --ranks ranks
over separate connections, and alternates timed all-reduces of --size bytes of float32
with plain publish/subscribe of the same per-rank traffic. Results are checked against a
float64 reference sum; a slow-consumer event fails the run. The last line is:
ranks=N bytes=S servers=K wire=W seconds=… algbw_GBps=… busbw_GBps=… raw_seconds=… efficiency=… max_rel_err=…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := allreduce.ParseWire(wire)
			if err != nil {
				return err
			}
			cfg.Wire = w
			cfg.Progress = cmd.OutOrStdout()
			res, err := allreduce.RunBench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Ranks, "ranks", 4, "ring size N")
	f.Int64Var(&cfg.Bytes, "size", 64<<20, "bytes of float32 each rank reduces (S)")
	f.IntVar(&cfg.Servers, "servers", 1, "embedded nats-servers joined as one cluster; rank i uses server i mod K")
	f.StringVar(&wire, "wire", "f32", "wire format: f32 or bf16")
	f.IntVar(&cfg.Reps, "reps", 5, "timed repetitions; the best time of each measurement counts")
	f.IntVar(&cfg.PieceBytes, "piece", 0, "piece payload bytes (0: 1 MiB, capped by max_payload)")
	f.IntVar(&cfg.WindowBytes, "window", 0, "credit window in bytes per link (0: 8 MiB)")
	f.DurationVar(&cfg.Timeout, "timeout", 0*time.Second, "per-operation progress timeout (0: 30s)")
	return cmd
}
