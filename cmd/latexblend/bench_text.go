package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/nn"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchTextCmd) }

// benchTextConfig is what `bench text` measures.
type benchTextConfig struct {
	modelDir  string // tiny model folder; "" uses the built-in tiny config
	runs      int    // timed runs per tiny encoder
	sdxlRuns  int    // timed runs per SDXL-size encoder
	batch     int
	skipSDXL  bool
	seed      uint64
	progressW io.Writer
}

func newBenchTextCmd() *cobra.Command {
	cfg := benchTextConfig{}
	cmd := &cobra.Command{
		Use:   "text [--model DIR]",
		Short: "Time CLIP text-encoder forward passes: the tiny SDXL model and SDXL-size encoders",
		Long: `Times one forward pass over 77-token prompts (graph compiled by a first, untimed run;
the median of the timed runs counts):
  tiny:     text_encoder + text_encoder_2 of the model folder --model DIR, or of the built-in tiny
            config (32 wide, 5 layers) with deterministic random weights
  sdxl_te1: CLIP ViT-L/14 text (768 wide, 12 layers, quick_gelu), random weights
  sdxl_te2: OpenCLIP bigG/14 text + projection (1280 wide, 32 layers, gelu), random weights
            (about 2.8 GB of float32 parameters)
The last line is:
blas=B batch=N tiny_ms=… sdxl_te1_ms=… sdxl_te2_ms=… sdxl_ms=… sdxl_te1_gflops=… sdxl_te2_gflops=…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.progressW = cmd.OutOrStdout()
			line, err := runBenchText(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench text: %w", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), line)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.modelDir, "model", "", "diffusers model folder whose text_encoder and text_encoder_2 are the tiny case (default: built-in tiny config)")
	f.IntVar(&cfg.runs, "runs", 20, "timed runs per tiny encoder")
	f.IntVar(&cfg.sdxlRuns, "sdxl-runs", 3, "timed runs per SDXL-size encoder")
	f.IntVar(&cfg.batch, "batch", 1, "prompts per forward pass")
	f.BoolVar(&cfg.skipSDXL, "skip-sdxl", false, "measure only the tiny encoders")
	f.Uint64Var(&cfg.seed, "seed", 1, "seed of the random weights")
	return cmd
}

func runBenchText(ctx context.Context, cfg benchTextConfig) (string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	fields := []string{"blas=" + nn.BLASBackend(), fmt.Sprintf("batch=%d", cfg.batch)}
	var tinyMS float64
	for i, c := range []struct {
		component string
		config    diffusers.CLIPTextConfig
	}{
		{sdxl.TextEncoderDir, clip.TinyTextConfig(false)},
		{sdxl.TextEncoder2Dir, clip.TinyTextConfig(true)},
	} {
		name := "tiny " + c.component
		t, err := timeEncoder(ctx, cfg, name, cfg.runs, uint64(i), func() (*clip.TextEncoder, error) {
			if cfg.modelDir != "" {
				return clip.LoadTextEncoder(filepath.Join(cfg.modelDir, c.component), c.component)
			}
			return clip.NewTextEncoder(c.config)
		})
		if err != nil {
			return "", err
		}
		tinyMS += durationMS(t.Median)
	}
	fields = append(fields, fmt.Sprintf("tiny_ms=%.3f", tinyMS))
	if cfg.skipSDXL {
		return strings.Join(fields, " "), nil
	}
	var sdxlMS float64
	var sdxlFields, gflops []string
	for i, c := range []struct {
		key    string
		config diffusers.CLIPTextConfig
	}{
		{"sdxl_te1", clip.CLIPViTLTextConfig()},
		{"sdxl_te2", clip.OpenCLIPBigGTextConfig()},
	} {
		t, err := timeEncoder(ctx, cfg, c.key, cfg.sdxlRuns, uint64(10+i), func() (*clip.TextEncoder, error) {
			return clip.NewTextEncoder(c.config)
		})
		if err != nil {
			return "", err
		}
		sdxlMS += durationMS(t.Median)
		sdxlFields = append(sdxlFields, fmt.Sprintf("%s_ms=%.1f", c.key, durationMS(t.Median)))
		gflops = append(gflops, fmt.Sprintf("%s_gflops=%.1f", c.key, t.GFLOPS()))
	}
	fields = append(fields, sdxlFields...)
	fields = append(fields, fmt.Sprintf("sdxl_ms=%.1f", sdxlMS))
	fields = append(fields, gflops...)
	return strings.Join(fields, " "), nil
}

// timeEncoder makes an encoder (random weights unless it was loaded), times it and
// releases it before returning, so only one large encoder is in memory at a time.
func timeEncoder(ctx context.Context, cfg benchTextConfig, name string, runs int, seedOffset uint64, mk func() (*clip.TextEncoder, error)) (clip.ForwardTiming, error) {
	e, err := mk()
	if err != nil {
		return clip.ForwardTiming{}, err
	}
	defer e.Close()
	if cfg.modelDir == "" || !strings.HasPrefix(name, "tiny") {
		e.Model.InitRandom(cfg.seed + seedOffset)
	}
	t, err := e.TimeForward(ctx, cfg.batch, runs)
	if err != nil {
		return t, fmt.Errorf("%s: %w", name, err)
	}
	if cfg.progressW != nil {
		fmt.Fprintf(cfg.progressW, "%s: %d params, first run (compile) %.1f ms, median %.3f ms, best %.3f ms over %d runs, %.1f GFLOP/s\n",
			name, e.Model.Params().Count(), durationMS(t.First), durationMS(t.Median), durationMS(t.Best), t.Runs, t.GFLOPS())
	}
	return t, nil
}

func durationMS(d interface{ Seconds() float64 }) float64 { return d.Seconds() * 1e3 }
