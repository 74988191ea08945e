package sdxl

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/schedule"
)

// Diffusers' StableDiffusionXLPipeline defaults.
const (
	DefaultSteps         = 50
	DefaultGuidanceScale = 5.0
)

// Request is one text-to-image generation: the arguments of diffusers'
// StableDiffusionXLPipeline.__call__ that this pipeline supports.
type Request struct {
	Prompt string
	// NegativePrompt is the guidance prompt. nil is diffusers' negative_prompt=None:
	// all-zero negative embeddings when the model sets force_zeros_for_empty_prompt
	// (SDXL base does), otherwise the empty prompt. A pointer to "" encodes "".
	NegativePrompt *string
	// Steps is num_inference_steps (> 0).
	Steps int
	// GuidanceScale is the classifier-free guidance weight; guidance (the
	// unconditional half of the batch) is used only when it is > 1.
	GuidanceScale float64
	// Height and Width of the image in pixels; 0 takes the model default
	// (Pipeline.DefaultSize), or the size of InitLatents when given. Both must be
	// multiples of Pipeline.SizeMultiple.
	Height, Width int
	// Size is SDXL's size conditioning (zero sizes mean Height×Width), NegativeSize
	// the unconditional half's (nil: the same as Size, diffusers' default).
	Size         SizeConditioning
	NegativeSize *SizeConditioning
	// Scheduler picks the sampler ("" = the model's scheduler class).
	Scheduler schedule.Kind
	// NumImages is the batch size (0 means 1, or InitLatents' batch).
	NumImages int
	// Seed seeds the noise (see NoiseSource): image i of the batch uses seed Seed+i.
	Seed uint64
	// InitLatents, when set, replaces the seeded initial noise: float32
	// [NumImages, latent channels, Height/f, Width/f], diffusers' `latents=` argument,
	// which the pipeline multiplies by the scheduler's init_noise_sigma. Step noise
	// (DDPM) still comes from Seed.
	InitLatents *tensor.Dense
	// SkipDecode returns the final latents only (diffusers' output_type="latent").
	SkipDecode bool
	// Hooks let callers (progress display, LatexBlend) observe and steer each step.
	Hooks Hooks
}

// resolved is a checked request with every default filled in.
type resolved struct {
	Request
	latentH, latentW int
	guidance         bool
	size, negSize    SizeConditioning
}

// resolve checks req against the pipeline and fills defaults.
func (p *Pipeline) resolve(req Request) (*resolved, error) {
	r := &resolved{Request: req}
	if r.Steps <= 0 {
		return nil, fmt.Errorf("sdxl: %d inference steps; need at least 1", r.Steps)
	}
	if r.NumImages < 0 {
		return nil, fmt.Errorf("sdxl: %d images requested", r.NumImages)
	}
	f, c := p.VAEScaleFactor(), p.LatentChannels()
	if t := r.InitLatents; t != nil {
		s := t.Shape()
		if t.Dtype() != tensor.Float32 || len(s) != 4 || s[1] != c {
			return nil, fmt.Errorf("sdxl: initial latents are %v %v, want float32 [B, %d, h, w]", t.Dtype(), []int(s), c)
		}
		if r.NumImages != 0 && r.NumImages != s[0] {
			return nil, fmt.Errorf("sdxl: initial latents hold %d images but %d were requested", s[0], r.NumImages)
		}
		r.NumImages = s[0]
		if r.Height == 0 {
			r.Height = s[2] * f
		}
		if r.Width == 0 {
			r.Width = s[3] * f
		}
		if s[2]*f != r.Height || s[3]*f != r.Width {
			return nil, fmt.Errorf("sdxl: initial latents are %dx%d, which decode to %dx%d pixels, not the requested %dx%d (height x width)",
				s[2], s[3], s[2]*f, s[3]*f, r.Height, r.Width)
		}
	}
	if r.NumImages == 0 {
		r.NumImages = 1
	}
	dh, dw := p.DefaultSize()
	if r.Height == 0 {
		r.Height = dh
	}
	if r.Width == 0 {
		r.Width = dw
	}
	if err := p.CheckSize(r.Height, r.Width); err != nil {
		return nil, err
	}
	r.latentH, r.latentW = r.Height/f, r.Width/f
	r.guidance = r.GuidanceScale > 1
	r.size = r.Size.resolved(r.Height, r.Width)
	r.negSize = r.size
	if r.NegativeSize != nil {
		r.negSize = r.NegativeSize.resolved(r.Height, r.Width)
	}
	if err := r.size.check("size conditioning"); err != nil {
		return nil, err
	}
	if err := r.negSize.check("negative size conditioning"); err != nil {
		return nil, err
	}
	return r, nil
}

// SizeError reports an image size the model cannot generate.
type SizeError struct {
	Dim      string // "height" or "width"
	Value    int
	Multiple int
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("sdxl: %s %d is not a positive multiple of %d (VAE factor times the UNet's upsampling)", e.Dim, e.Value, e.Multiple)
}

// CheckSize returns a *SizeError when height or width is not a positive multiple of
// SizeMultiple.
func (p *Pipeline) CheckSize(height, width int) error {
	m := p.SizeMultiple()
	for _, d := range []struct {
		name string
		v    int
	}{{"height", height}, {"width", width}} {
		if d.v <= 0 || d.v%m != 0 {
			return &SizeError{Dim: d.name, Value: d.v, Multiple: m}
		}
	}
	return nil
}
