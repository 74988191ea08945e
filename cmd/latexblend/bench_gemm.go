package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/nn"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchGEMMCmd) }

func newBenchGEMMCmd() *cobra.Command {
	var cfg nn.GEMMBenchConfig
	cmd := &cobra.Command{
		Use:   "gemm",
		Short: "Time a float32 GEMM through the nn layer against the same GEMM called directly on the BLAS backend",
		Long: `Computes C [m,n] = A [m,k]·B [k,n] in float32, alternating a compiled nn Program
(input binding, TapeMachine dispatch, output allocation and read-back) with a direct call
of the backend's sgemm, and keeps the best of --reps timings of each. The two results
must agree. The last line is:
m=M n=N k=K backend=gonum|openblas layer_gflops=… direct_gflops=… overhead_ratio=…
where overhead_ratio = layer time / direct time (1 = no overhead).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := nn.BenchGEMM(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "backend %s, %d reps (best of each)\n", res.Backend, res.Reps)
			fmt.Fprintf(out, "layer:  %.3f ms  %.2f GFLOP/s\n", res.LayerSeconds*1e3, res.LayerGFLOPS())
			fmt.Fprintf(out, "direct: %.3f ms  %.2f GFLOP/s\n", res.DirectSeconds*1e3, res.DirectGFLOPS())
			fmt.Fprintf(out, "max |layer - direct| = %.3g\n", res.MaxAbsDiff)
			fmt.Fprintln(out, res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.M, "m", 1024, "rows of A and C")
	f.IntVar(&cfg.N, "n", 1024, "columns of B and C")
	f.IntVar(&cfg.K, "k", 1024, "columns of A, rows of B")
	f.IntVar(&cfg.Reps, "reps", 5, "timed repetitions of each variant; the best counts")
	return cmd
}
