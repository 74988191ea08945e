package trainer

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/vae"
)

// Preview settings: a fixed prompt and seed, so previews of one run are comparable.
const (
	PreviewSeed     = 1234
	PreviewSteps    = 20
	PreviewGuidance = 5.0
)

// Previewer renders preview images with the trainer's current weights through the
// model/sdxl pipeline.
type Previewer struct {
	t      *Trainer
	pipe   *sdxl.Pipeline
	Dir    string
	Prompt string
}

// NewPreviewer prepares previews written to dir. The pipeline is loaded from the base
// model's folder (for its scheduler config and logger) and then pointed at the
// trainer's own text encoders, UNet and VAE, whose weights are the ones being trained.
func (t *Trainer) NewPreviewer(dir string) (*Previewer, error) {
	if t.base.VAE == nil {
		return nil, fmt.Errorf("previews need the VAE")
	}
	p, err := sdxl.Load(t.base.Dir, sdxl.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("preview pipeline: %w", err)
	}
	p.Close()
	p.Prompt, p.UNet, p.VAE = t.base.Prompt, t.base.UNet, t.base.VAE
	return &Previewer{t: t, pipe: p, Dir: dir, Prompt: DefaultExtractPrompt(t.recipe.ModifierToken, t.recipe.ClassNoun)}, nil
}

// Render samples the preview of the current step and writes preview-<step>.png.
func (pv *Previewer) Render(ctx context.Context) (string, error) {
	r := pv.t.recipe
	res, err := pv.pipe.Generate(ctx, sdxl.Request{Prompt: pv.Prompt, Steps: PreviewSteps, GuidanceScale: PreviewGuidance,
		Height: r.Resolution, Width: r.Resolution, Seed: PreviewSeed})
	if err != nil {
		return "", fmt.Errorf("preview at step %d: %w", pv.t.step, err)
	}
	imgs, err := vae.ToImages(res.Images)
	if err != nil {
		return "", err
	}
	path := filepath.Join(pv.Dir, fmt.Sprintf("preview-%06d.png", pv.t.step))
	texts := []sdxl.TextChunk{{Key: "prompt", Text: pv.Prompt}, {Key: "seed", Text: strconv.Itoa(PreviewSeed)},
		{Key: "step", Text: strconv.Itoa(pv.t.step)}}
	if err := sdxl.WritePNG(path, imgs[0], texts); err != nil {
		return "", err
	}
	return path, nil
}
