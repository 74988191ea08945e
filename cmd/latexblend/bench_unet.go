package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/model/unet"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchUNetCmd) }

func newBenchUNetCmd() *cobra.Command {
	var cfg unet.BenchConfig
	cmd := &cobra.Command{
		Use:   "unet",
		Short: "Time UNet forwards (tiny and mid-size SDXL-shaped configs) against the backend's SGEMM rate",
		Long: `Builds the tiny SDXL test UNet (block_out_channels 32/64, 1.98 M parameters) and a
mid-size SDXL-shaped UNet (128/256/512 channels, 138 M parameters) with random weights,
runs one untimed forward each (graph compilation) and --reps timed forwards, counts the
FLOPs of one forward (convolutions, linear layers, attention matmuls), and measures the
backend's float32 GEMM rate in the same process. The last line is:
tiny_ms=… mid_ms=… tiny_gflops=… mid_gflops=… sgemm_gflops=… efficiency=… peak_mb=… mid_gflop=… backend=…
where efficiency = mid_gflops / sgemm_gflops and peak_mb is the process's peak RSS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Progress = cmd.OutOrStdout()
			res, err := unet.RunBench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Reps, "reps", 3, "timed forwards per model; the best counts")
	f.IntVar(&cfg.TinyBatch, "tiny-batch", 2, "batch of the tiny UNet")
	f.IntVar(&cfg.TinySize, "tiny-size", 32, "latent side of the tiny UNet (multiple of 2)")
	f.IntVar(&cfg.MidBatch, "mid-batch", 1, "batch of the mid-size UNet")
	f.IntVar(&cfg.MidSize, "mid-size", 32, "latent side of the mid-size UNet (multiple of 4)")
	f.IntVar(&cfg.Tokens, "tokens", 77, "context tokens")
	f.IntVar(&cfg.GEMM, "gemm", 1024, "side of the square SGEMM measuring the backend")
	return cmd
}
