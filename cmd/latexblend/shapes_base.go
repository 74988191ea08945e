package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/nn"
	"github.com/latexblend/latexblend/shapes"
	"github.com/latexblend/latexblend/shapes/base"
)

// shapes.go builds the `shapes` group in one constructor with no extension point, so
// the files that add children to it (train-base here, sample in shapes_sample.go) wrap
// the registered constructor. shapes.go's init runs first: a package's files are
// initialised in file-name order, and "shapes.go" sorts before "shapes_*.go".
func init() { addShapesChild(newShapesTrainBaseCmd) }

// addShapesChild makes the registered `shapes` group also get child; without a shapes
// group (a build without shapes.go) it registers one of its own.
func addShapesChild(child func() *cobra.Command) {
	for i, mk := range subcommands {
		if mk().Name() != "shapes" {
			continue
		}
		subcommands[i] = func() *cobra.Command {
			cmd := mk()
			cmd.AddCommand(child())
			return cmd
		}
		return
	}
	subcommands = append(subcommands, func() *cobra.Command {
		cmd := &cobra.Command{Use: "shapes", Short: "The synthetic shapes world"}
		cmd.AddCommand(child())
		return cmd
	})
}

func newShapesTrainBaseCmd() *cobra.Command {
	var (
		out, grid, logLevel string
		threads, gridSteps  int
		blasThreads         int
		cfg                 = base.DefaultConfig()
	)
	cmd := &cobra.Command{
		Use:   "train-base --out DIR [--seed S] [--vae-steps N] [--unet-steps N] [--threads N]",
		Short: "Train the shapes world's tiny SDXL-topology base model from scratch into a diffusers folder",
		Long: "Train the tiny text-to-image base model of the shapes world from scratch: first the VAE on rendered\n" +
			"scenes, then the UNet and both text encoders jointly (DDPM epsilon objective, SDXL's scaled-linear\n" +
			"schedule, 10% caption dropout for guidance). Writes DIR in the diffusers layout (model_index.json, unet/,\n" +
			"vae/, text_encoder/, text_encoder_2/, tokenizer/, tokenizer_2/, scheduler/), loadable by\n" +
			"`latexblend generate --model DIR`. Progress goes to stderr; the last stdout line is key=value.\n" +
			"The committed shapes/model was made with the defaults.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("shapes train-base: --out DIR is required")
			}
			if threads < 0 {
				return fmt.Errorf("shapes train-base: --threads %d must not be negative", threads)
			}
			if blasThreads < 1 {
				return fmt.Errorf("shapes train-base: --blas-threads %d must be at least 1", blasThreads)
			}
			nn.SetBLASThreads(blasThreads)
			if threads > 0 {
				runtime.GOMAXPROCS(threads)
			}
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Log = log
			stderr := cmd.ErrOrStderr()
			cfg.Progress = func(p base.Progress) { printTrainProgress(stderr, p) }
			start := time.Now()
			res, err := base.Train(cmd.Context(), out, cfg)
			if err != nil {
				return err
			}
			total := time.Since(start)
			gridNote := ""
			if grid != "" {
				rows, err := base.Samples(cmd.Context(), out, base.GridPrompts, base.SampleOptions{Steps: gridSteps})
				if err != nil {
					return err
				}
				if err := shapes.WritePNG(grid, base.Grid(rows)); err != nil {
					return err
				}
				gridNote = " grid=" + grid
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(),
				"out=%s seed=%d vae_steps=%d unet_steps=%d vae_recon_mse=%.5f unet_loss=%.4f scaling_factor=%.4f vae_seconds=%.0f latent_seconds=%.0f unet_seconds=%.0f total_seconds=%.0f threads=%d%s\n",
				out, cfg.Seed, cfg.VAESteps, cfg.UNetSteps, res.VAERecon, res.UNetLoss, res.ScalingFactor,
				res.VAETime.Seconds(), res.LatentTime.Seconds(), res.UNetTime.Seconds(), total.Seconds(), runtime.GOMAXPROCS(0), gridNote)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "", "output folder (diffusers layout)")
	fl.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the initialisation, the data streams and the noise")
	fl.IntVar(&cfg.VAESteps, "vae-steps", cfg.VAESteps, "VAE optimiser steps")
	fl.IntVar(&cfg.UNetSteps, "unet-steps", cfg.UNetSteps, "UNet + text encoder optimiser steps")
	fl.IntVar(&cfg.VAEBatch, "vae-batch", cfg.VAEBatch, "images per VAE step")
	fl.IntVar(&cfg.VAECrop, "vae-crop", cfg.VAECrop, "side of the random window of each image the VAE trains on (a multiple of 4, at most 64)")
	fl.IntVar(&cfg.UNetBatch, "unet-batch", cfg.UNetBatch, "latents per UNet step")
	fl.Float64Var(&cfg.VAELR, "vae-lr", cfg.VAELR, "peak VAE learning rate")
	fl.Float64Var(&cfg.UNetLR, "unet-lr", cfg.UNetLR, "peak UNet + text encoder learning rate")
	fl.Float64Var(&cfg.MinSNRGamma, "min-snr-gamma", cfg.MinSNRGamma, "min-SNR loss weighting γ of the UNet phase (0: plain epsilon MSE)")
	fl.Float64Var(&cfg.EMADecay, "ema-decay", cfg.EMADecay, "decay of the UNet and text encoder weights' moving average, which is what is written (0: the last step's weights)")
	fl.Float64Var(&cfg.TailSwap, "tail-swap", cfg.TailSwap, "fraction of UNet rows whose context from the end-of-text token on and pooled embedding are another caption's, so the UNet reads the words (0: off)")
	fl.IntVar(&cfg.Replicas, "replicas", cfg.Replicas, "copies of the UNet that run each step's batch side by side (data-parallel in the process; 1 for none)")
	fl.IntVar(&cfg.PoolSize, "pool", cfg.PoolSize, "rendered scenes the UNet phase trains on")
	fl.IntVar(&cfg.SaveEvery, "save-every", 0, "also write the folder every N UNet steps")
	fl.IntVar(&cfg.LogEvery, "log-every", cfg.LogEvery, "steps between progress lines")
	fl.IntVar(&threads, "threads", 0, "CPU threads (GOMAXPROCS); 0 keeps the default (all cores)")
	fl.IntVar(&blasThreads, "blas-threads", 1, "OpenBLAS threads (OpenBLAS builds only): the tiny model's GEMMs are small and the Go kernels already use every core")
	fl.StringVar(&grid, "grid", "", "after training, write a sample grid PNG of base.GridPrompts here")
	fl.IntVar(&gridSteps, "grid-steps", 30, "sampling steps of the --grid images")
	fl.StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	return cmd
}

// printTrainProgress writes one progress line: phase, step, mean loss, details, ETA.
func printTrainProgress(w io.Writer, p base.Progress) {
	fmt.Fprintf(w, "%-4s %5d/%-5d %3.0f%% loss=%.5f %s elapsed=%s eta=%s\n", p.Phase, p.Step, p.Steps,
		100*float64(p.Step)/float64(p.Steps), p.Loss, p.Detail, p.Elapsed.Round(time.Second), p.ETA.Round(time.Second))
}
