package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/shapes"
	"github.com/latexblend/latexblend/shapes/base"
)

// init adds `shapes sample` to the shapes group (see addShapesChild).
func init() { addShapesChild(newShapesSampleCmd) }

func newShapesSampleCmd() *cobra.Command {
	var (
		model, out string
		prompts    []string
		opts       base.SampleOptions
	)
	cmd := &cobra.Command{
		Use:   "sample --out FILE [--model shapes/model] [--prompt P]... [--seeds 4] [--steps 30] [--cfg 5]",
		Short: "Write a contact sheet of a base model's images: a row per prompt, a column per seed",
		Long: "Generate every --prompt (default: shapes/base.GridPrompts, plain prompts of one to three shapes,\n" +
			"textured ones and bare class nouns) with seeds 0..N-1 through the SDXL pipeline of --model, and\n" +
			"write one PNG, a row per prompt. This is how docs/shapes-model.md's pictures are made. The last\n" +
			"stdout line is key=value.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("shapes sample: --out FILE is required")
			}
			if len(prompts) == 0 {
				prompts = base.GridPrompts
			}
			start := time.Now()
			rows, err := base.Samples(cmd.Context(), model, prompts, opts)
			if err != nil {
				return fmt.Errorf("shapes sample: %w", err)
			}
			if err := shapes.WritePNG(out, base.Grid(rows)); err != nil {
				return fmt.Errorf("shapes sample: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "out=%s model=%s prompts=%d images=%d seconds=%.1f\n",
				out, model, len(rows), len(rows)*len(rows[0]), time.Since(start).Seconds())
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&model, "model", "shapes/model", "base model (diffusers folder)")
	fl.StringVar(&out, "out", "", "PNG to write")
	fl.StringArrayVar(&prompts, "prompt", nil, "prompt of a row (repeatable; default: shapes/base.GridPrompts)")
	fl.IntVar(&opts.Seeds, "seeds", 4, "images per prompt (seeds 0..N-1)")
	fl.IntVar(&opts.Steps, "steps", 30, "Euler steps")
	fl.Float64Var(&opts.Guidance, "cfg", 5, "classifier-free guidance scale")
	return cmd
}
