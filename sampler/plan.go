package sampler

import (
	"fmt"
	"math/rand/v2"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/model/schedule"
	"github.com/latexblend/latexblend/model/sdxl"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

// plan is a validated request resolved against the loaded model and the bank: what
// the engine runs. Its concepts are already fetched.
type plan struct {
	// req is the request with every default filled in (Done.request, PNG metadata).
	req           *pb.GenerateRequest
	negative      *string
	steps, images int
	width, height int
	scale         float64
	seed          uint64
	kind          schedule.Kind
	concepts      []*cachedConcept
	opts          blend.Options
	blender       *blend.Blender
	slots         []blend.Slot
	mode          string
	identity      string
}

// batchKey groups requests that can share one UNet batch: the same latent size, steps
// and scheduler give every row the same timesteps; bind selects the unfused attention
// path, which would change (by rounding) the result of rows that do not need it.
type batchKey struct {
	width, height, steps int
	kind                 schedule.Kind
	bind                 bool
}

func (p *plan) key() batchKey {
	return batchKey{width: p.width, height: p.height, steps: p.steps, kind: p.kind, bind: len(p.concepts) > 0 && !p.opts.NoBinding}
}

// batchable is false for blending guidance and self-rectification: the reference's
// guidance loss averages attention maps over the batch and rectification clusters the
// batch's averaged self-attention, so their rows cannot share a batch with strangers.
// They run alone through blend's pipeline hooks.
func (p *plan) batchable() bool { return !p.opts.Guidance && !p.opts.Rectification }

// rows is the UNet batch rows the request takes per step.
func (p *plan) rows() int {
	if p.scale > 1 {
		return 2 * p.images
	}
	return p.images
}

// schedulerKinds maps the API's scheduler to the model's.
var schedulerKinds = map[pb.Scheduler]schedule.Kind{
	pb.Scheduler_SCHEDULER_EULER: schedule.KindEuler,
	pb.Scheduler_SCHEDULER_DDIM:  schedule.KindDDIM,
	pb.Scheduler_SCHEDULER_DDPM:  schedule.KindDDPM,
}

func schedulerEnum(k schedule.Kind) pb.Scheduler {
	for e, kk := range schedulerKinds {
		if kk == k {
			return e
		}
	}
	return pb.Scheduler_SCHEDULER_UNSPECIFIED
}

// invalid wraps a request problem as InvalidArgument.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), service.ErrInvalidArgument)
}

// planRequest checks what the API validator cannot (the model's size multiple, the
// token window, slot positions, entries against the model) and fills defaults. The
// request itself has passed Validate. concepts are the fetched entries in request
// order.
func planRequest(p *sdxl.Pipeline, req *pb.GenerateRequest, concepts []*cachedConcept) (*plan, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", err, service.ErrInvalidArgument)
	}
	sched, err := p.NewScheduler(schedulerKinds[req.GetScheduler()])
	if err != nil {
		return nil, err
	}
	if steps := req.GetSteps(); steps != 0 {
		if err := sched.SetTimesteps(int(steps)); err != nil {
			return nil, invalid("steps: %d steps do not fit this model's %s schedule: %v", steps, sched.Kind(), err)
		}
	}
	h, w := p.DefaultSize()
	full := req.WithDefaults(pb.GenerateDefaults{Width: int32(w), Height: int32(h), Seed: rand.Uint64(), Scheduler: schedulerEnum(sched.Kind())})
	m := p.SizeMultiple()
	for _, d := range []struct {
		field string
		v     int32
	}{{"width", full.Width}, {"height", full.Height}} {
		if int(d.v)%m != 0 {
			return nil, invalid("%s: must be a multiple of %d for this model (VAE factor times the UNet's upsampling), got %d", d.field, m, d.v)
		}
	}
	tok := p.Prompt.Tokenizer
	window := tok.MaxLength() - 2
	for _, t := range []struct{ field, text string }{{"prompt", full.Prompt}, {"negative_prompt", full.NegativePrompt}} {
		if n := len(tok.Encode(t.text)); n > window {
			return nil, invalid("%s: %d tokens, the text encoder's window holds %d", t.field, n, window)
		}
	}
	pl := &plan{
		req: full, steps: int(full.Steps), images: int(full.NumImages), width: int(full.Width), height: int(full.Height),
		scale: float64(full.GetGuidanceScale()), seed: full.GetSeed(), kind: sched.Kind(), concepts: concepts,
		mode: full.Mode(), identity: p.Identity,
	}
	if full.NegativePrompt != "" {
		neg := full.NegativePrompt
		pl.negative = &neg
	}
	if len(concepts) == 0 {
		return pl, nil
	}
	pl.opts = blendOptions(full.GetBlend())
	bc := make([]blend.Concept, len(concepts))
	for i, c := range concepts {
		bc[i] = blend.Concept{ClassNoun: full.Concepts[i].ClassNoun, Entry: c.entry}
	}
	b, err := blend.New(blend.Setup{UNet: p.UNet, Tokenizer: tok, Identity: p.Identity, Prompt: full.Prompt, Concepts: bc, Options: pl.opts})
	if err != nil {
		return nil, fmt.Errorf("concepts: %w: %w", err, service.ErrInvalidArgument)
	}
	pl.blender, pl.slots = b, b.Slots()
	return pl, nil
}

// blendOptions turns the API's options (defaults filled) into blend's.
func blendOptions(b *pb.BlendOptions) blend.Options {
	o := blend.DefaultOptions()
	o.BlendingStart = float64(b.GetBlendingStart())
	o.NoBinding = b.GetDisableBinding()
	o.NoPlaces = b.GetDisablePlaces()
	o.ReferenceCompat = b.GetReferenceCompat()
	if g := b.GetBlendingGuidance(); g.GetEnabled() {
		o.Guidance, o.GuidanceSteps, o.GuidanceStepsize = true, int(g.GuidanceSteps), float64(g.GuidanceStepsize)
	}
	if s := b.GetSelfRectification(); s.GetEnabled() {
		o.Rectification, o.RectificationStart, o.CReg = true, float64(s.RectificationStart), float64(s.Strength)
	}
	return o
}

// blending is blend's test of whether concept K/V are written at timestep t, compared in
// float32 as the reference compares a float32 timestep with a Python float.
func (p *plan) blending(t float64) bool {
	return len(p.concepts) > 0 && float32(t)/1000 < float32(p.opts.BlendingStart)
}
