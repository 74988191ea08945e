package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/model/unet"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchBlendCmd) }

func newBenchBlendCmd() *cobra.Command {
	var cfg blend.BenchConfig
	var model string
	cmd := &cobra.Command{
		Use:   "blend",
		Short: "Time LatexBlend sampler steps: 0/1/2/4/8 concepts in replace mode, guidance and rectification steps",
		Long: `Builds a UNet with random weights (the tiny SDXL test config, or --model mid for the
mid-size SDXL-shaped config) and times one guidance-batched sampler step (1 image, CFG,
77 tokens) with 0, 1, 2, 4 and 8 concepts in replace mode (K/V rows written into every
attn2, bind trick on; 0 concepts is the plain UNet), one blending-guidance pass
(conditional forward + backward to the latents, 2 concepts), the rectification save
step (attention reads, spectral clustering, masks) and a rectified step. Each time is
the best of --reps calls after an untimed compiling call. The last line is:
concepts0_ms=… concepts1_ms=… concepts2_ms=… concepts4_ms=… concepts8_ms=… ratio8=…
guidance_ms=… guidance_ratio=… rectify_ms=… rectify_ratio=… save_ms=… save_ratio=… latent=… params=…
where the ratios are relative to the plain step (target: ratio8 <= 1.05).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch model {
			case "tiny":
				cfg.UNet = unet.TinyConfig()
			case "mid":
				cfg.UNet = unet.MidConfig()
			default:
				return fmt.Errorf("bench blend: --model %q: want tiny or mid", model)
			}
			cfg.Progress = cmd.OutOrStdout()
			res, err := blend.RunBench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "tiny", "UNet config: tiny or mid (random weights)")
	f.IntVar(&cfg.Size, "size", 32, "latent side (a multiple of the UNet's downsampling)")
	f.IntVar(&cfg.Reps, "reps", 5, "timed calls per measurement; the fastest counts")
	f.IntSliceVar(&cfg.Concepts, "concepts", []int{0, 1, 2, 4, 8}, "concept counts to time in replace mode")
	return cmd
}
