package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/trainer"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchTrainCmd) }

func newBenchTrainCmd() *cobra.Command {
	var cfg trainer.BenchConfig
	cmd := &cobra.Command{
		Use:   "train [--model DIR] [--steps N] [--ranks 1,2] [--resolution R] [--token-only]",
		Short: "Training steps per second at 1 and 2 ranks and the all-reduce's share of a step",
		Long: `Trains the model (default: the tiny SDXL test model of the golden folder) on synthetic
images with the full recipe (base flow, prior preservation, batch 1 per rank) for each
gang size, ranks joined by an embedded NATS ring, and reports steps per second after the
first (compiling) step, the fraction of rank 0's step time spent in the all-reduce and
the values it averages per step. --token-only trains the token rows alone, whose
all-reduce carries those rows and the losses only. The last line is
steps_per_sec_1=… step_ms_1=… allreduce_share_1=… allreduce_floats_1=… steps_per_sec_2=… step_ms_2=… allreduce_share_2=… allreduce_floats_2=… resolution=… steps=… token_only=…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.ModelDir == "" {
				g, ok := golden.Find()
				if !ok {
					return fmt.Errorf("bench train: --model DIR is required (no golden tiny model found)")
				}
				cfg.ModelDir = g + "/tiny-sdxl"
			}
			res, err := trainer.RunBench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), res.Line())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ModelDir, "model", "", "model to train (default: the golden tiny SDXL)")
	f.IntVar(&cfg.Steps, "steps", 8, "steps per run (the first is not timed)")
	f.IntSliceVar(&cfg.Ranks, "ranks", []int{1, 2}, "gang sizes to measure")
	f.IntVar(&cfg.Resolution, "resolution", 64, "training resolution")
	f.IntVar(&cfg.Batch, "batch", 1, "instance images per rank")
	f.StringVar(&cfg.NATSURL, "nats", "", "NATS server for the ring (default: embedded)")
	f.BoolVar(&cfg.TokenOnly, "token-only", false, "train the modifier token's rows alone (Recipe.TokenOnly)")
	return cmd
}
