package base

import (
	"context"
	"fmt"
	"image"

	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/shapes"
)

// GridPrompts are the prompts of the sample grid: single objects in each colour, pairs,
// a spatial relation, a triple, textured objects (never a concept's pair) and the bare
// class nouns the evaluation's prompts use.
var GridPrompts = []string{
	"a photo of a red circle",
	"a photo of a blue square",
	"a photo of a green triangle",
	"a photo of a yellow star",
	"a photo of a purple ring",
	"a photo of an orange cross",
	"a blue square and a yellow star",
	"a red circle and a green cross",
	"a purple ring on the left of an orange triangle",
	"a yellow circle, a blue triangle and a red square",
	"a checkered circle",
	"a rainbow star",
	"a dotted triangle and a striped ring",
	"a star and a ring",
}

// SampleOptions set how Samples generates.
type SampleOptions struct {
	Steps    int     // Euler steps (default 30)
	Guidance float64 // classifier-free guidance scale (default 5, SDXL's)
	Seeds    int     // images per prompt, seeds 0..Seeds-1 (default 4)
}

// Samples generates each prompt through the SDXL pipeline loaded from dir, returning
// one row of images per prompt.
func Samples(ctx context.Context, dir string, prompts []string, opts SampleOptions) ([][]image.Image, error) {
	if opts.Steps <= 0 {
		opts.Steps = 30
	}
	if opts.Guidance == 0 {
		opts.Guidance = 5
	}
	if opts.Seeds <= 0 {
		opts.Seeds = 4
	}
	p, err := sdxl.Load(dir, sdxl.LoadOptions{})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	rows := make([][]image.Image, len(prompts))
	for i, prompt := range prompts {
		res, err := p.Generate(ctx, sdxl.Request{Prompt: prompt, Steps: opts.Steps, GuidanceScale: opts.Guidance,
			Seed: 0, NumImages: opts.Seeds})
		if err != nil {
			return nil, fmt.Errorf("generating %q: %w", prompt, err)
		}
		imgs, err := vae.ToImages(res.Images)
		if err != nil {
			return nil, err
		}
		for _, im := range imgs {
			rows[i] = append(rows[i], im)
		}
	}
	return rows, nil
}

// Grid lays out rows of images (one row per prompt) as one contact sheet.
func Grid(rows [][]image.Image) *image.RGBA {
	cols := 0
	var all []image.Image
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	for _, r := range rows {
		for c := range cols {
			if c < len(r) {
				all = append(all, r[c])
			} else {
				all = append(all, image.NewRGBA(image.Rect(0, 0, ImageSize, ImageSize)))
			}
		}
	}
	return shapes.Grid(all, cols, 2)
}
