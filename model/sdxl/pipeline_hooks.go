package sdxl

import (
	"context"
	"fmt"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/schedule"
	"github.com/latexblend/latexblend/model/unet"
)

// Hooks observe and steer a generation step by step; every field is optional. They are
// called from the goroutine running Generate, in the order BeforeStep, Processor,
// AfterUNet, Progress within a step.
type Hooks struct {
	// BeforeStep runs before the step's UNet call and may return new latents
	// (same shape) to continue from, or nil to keep them. LatexBlend's blending
	// guidance does its gradient pass here (a conditional-only UNet forward through
	// Step.UNet and Step.Cond, then a step on the latents).
	BeforeStep func(ctx context.Context, s *Step) (*tensor.Dense, error)
	// Processor returns the UNet attention processor of the step's (guidance-batched)
	// UNet call, or nil for the plain UNet. It is asked once per step, so edits can
	// depend on the step index and timestep (LatexBlend writes concept K/V only
	// below its blending start).
	Processor func(s *Step) (unet.Processor, error)
	// AfterUNet sees the UNet output of the step before guidance is applied: the
	// noise prediction [rows, C, h, w] and the Extra outputs the processor asked for
	// (attention maps to save, for instance). It must not keep out.Sample.
	AfterUNet func(s *Step, out *unet.Output) error
	// Progress runs after the scheduler step; s.Latents are then the new latents.
	Progress func(s *Step)
}

// Step describes one denoising step to the hooks.
type Step struct {
	// Index counts steps from 0; Total is the number of steps.
	Index, Total int
	// Timestep is the scheduler timestep the UNet is called with (999…1 for SDXL's
	// leading spacing); LatexBlend compares it with 1000·blending_start.
	Timestep float64
	// Latents are the current latents [N, C, h, w]: x_t before the step, x_{t-1} in
	// Progress. Hooks must not modify them; BeforeStep returns replacements instead.
	Latents *tensor.Dense
	// Cond is the generation's conditioning, the same for every step.
	Cond *Conditioning
	// Scheduler is the generation's scheduler (read-only: ScaleModelInput,
	// Timesteps, InitNoiseSigma).
	Scheduler schedule.Scheduler
	// UNet is the pipeline's UNet, for hooks that need their own forward passes.
	UNet *unet.Model
}

// Conditioning is the text and size conditioning of a generation, batched as the UNet
// call of every step takes it: under guidance the N unconditional rows come first, then
// the N conditional ones; without guidance the N conditional rows only.
type Conditioning struct {
	// Context is encoder_hidden_states [rows, 77, D], TextEmbeds the pooled embeddings
	// [rows, P], TimeIDs the add_time_ids [rows, 6].
	Context, TextEmbeds, TimeIDs *tensor.Dense
	// Images is N, the number of images (latent rows).
	Images int
	// Guidance says whether the unconditional rows are present.
	Guidance bool
	// GuidanceScale is the weight of classifier-free guidance.
	GuidanceScale float64
	// Embeds is the prompt encoder's full result (token ids included).
	Embeds *PromptEmbeds
}

// Rows is the UNet batch size of a step: 2N under guidance, N otherwise.
func (c *Conditioning) Rows() int {
	if c.Guidance {
		return 2 * c.Images
	}
	return c.Images
}

// ConditionalRows lists the UNet batch rows that carry the prompt (N…2N-1 under
// guidance, 0…N-1 without): where LatexBlend writes concept keys and values.
func (c *Conditioning) ConditionalRows() []int {
	first := 0
	if c.Guidance {
		first = c.Images
	}
	rows := make([]int, c.Images)
	for i := range rows {
		rows[i] = first + i
	}
	return rows
}

// Conditional returns copies of the conditional rows only (context, pooled text
// embeddings, time ids), for a UNet forward on the prompt alone.
func (c *Conditioning) Conditional() (ctx, textEmbeds, timeIDs *tensor.Dense, err error) {
	first := c.Rows() - c.Images
	if ctx, err = sliceRows(c.Context, first, c.Rows()); err != nil {
		return nil, nil, nil, err
	}
	if textEmbeds, err = sliceRows(c.TextEmbeds, first, c.Rows()); err != nil {
		return nil, nil, nil, err
	}
	if timeIDs, err = sliceRows(c.TimeIDs, first, c.Rows()); err != nil {
		return nil, nil, nil, err
	}
	return ctx, textEmbeds, timeIDs, nil
}

// UNetInputs returns the inputs of the step's main UNet call for a (scaled) sample of
// Rows() rows.
func (c *Conditioning) UNetInputs(sample *tensor.Dense, timestep float64) unet.Inputs {
	return unet.Inputs{
		Sample:     sample,
		Timesteps:  []float64{timestep},
		Context:    c.Context,
		TextEmbeds: c.TextEmbeds,
		TimeIDs:    c.TimeIDs,
	}
}

// sliceRows copies rows [from, to) of a float32 tensor along axis 0.
func sliceRows(t *tensor.Dense, from, to int) (*tensor.Dense, error) {
	s := t.Shape()
	d, ok := t.Data().([]float32)
	if !ok || len(s) == 0 || from < 0 || to > s[0] || from > to {
		return nil, fmt.Errorf("sdxl: rows %d:%d of a %v %v tensor", from, to, t.Dtype(), []int(s))
	}
	per := len(d) / s[0]
	shape := append([]int{to - from}, s[1:]...)
	out := append([]float32(nil), d[from*per:to*per]...)
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(out)), nil
}
