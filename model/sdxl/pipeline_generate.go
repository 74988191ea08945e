package sdxl

import (
	"context"
	"fmt"
	"time"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/schedule"
	"github.com/latexblend/latexblend/model/unet"
)

// Result is what Generate returns.
type Result struct {
	// Latents are the final latents [N, C, h, w], before VAE decoding.
	Latents *tensor.Dense
	// Images are the decoded images [N, 3, H, W], nominally in [-1, 1] and not clamped
	// (vae.ToImages and ImagesUnit postprocess them); nil with SkipDecode.
	Images *tensor.Dense
	// Params are the request's parameters with every default resolved, for metadata.
	Params Params
	// Timesteps are the scheduler timesteps that were run.
	Timesteps []float64
	// Elapsed is the wall time of the denoising loop (prompt encoding and decoding
	// excluded).
	Elapsed time.Duration
}

// Params are a generation's resolved parameters: everything needed, with the model,
// to repeat it.
type Params struct {
	Prompt         string           `json:"prompt"`
	NegativePrompt *string          `json:"negative_prompt"`
	Steps          int              `json:"steps"`
	GuidanceScale  float64          `json:"guidance_scale"`
	Height         int              `json:"height"`
	Width          int              `json:"width"`
	Size           SizeConditioning `json:"size_conditioning"`
	NegativeSize   SizeConditioning `json:"negative_size_conditioning"`
	Scheduler      schedule.Kind    `json:"scheduler"`
	NumImages      int              `json:"num_images"`
	Seed           uint64           `json:"seed"`
	// InitLatents says the initial latents were given rather than drawn from Seed.
	InitLatents bool `json:"-"`
}

// Generate runs the SDXL text-to-image loop of diffusers' StableDiffusionXLPipeline:
// encode the prompt (and negative prompt under guidance), draw or take the initial
// latents and scale them by init_noise_sigma, then for each timestep: scale the input,
// call the UNet on [uncond, cond] rows, combine with the guidance scale and take a
// scheduler step; finally decode latents/scaling_factor with the VAE. The context is
// checked between steps (and before decoding); a UNet call in progress is not
// interrupted.
func (p *Pipeline) Generate(ctx context.Context, req Request) (*Result, error) {
	r, err := p.resolve(req)
	if err != nil {
		return nil, err
	}
	sched, err := p.NewScheduler(r.Scheduler)
	if err != nil {
		return nil, err
	}
	if err := sched.SetTimesteps(r.Steps); err != nil {
		return nil, fmt.Errorf("sdxl: %w", err)
	}
	cond, err := p.condition(r)
	if err != nil {
		return nil, err
	}
	noise := NewNoiseSource(r.Seed, r.NumImages)
	latents := p.initialLatents(r, noise, float32(sched.InitNoiseSigma()))
	res := &Result{
		Timesteps: sched.Timesteps(),
		Params: Params{
			Prompt: r.Prompt, NegativePrompt: r.NegativePrompt, Steps: r.Steps, GuidanceScale: r.GuidanceScale,
			Height: r.Height, Width: r.Width, Size: r.size, NegativeSize: r.negSize, Scheduler: sched.Kind(),
			NumImages: r.NumImages, Seed: r.Seed, InitLatents: r.InitLatents != nil,
		},
	}
	start := time.Now()
	for i, t := range res.Timesteps {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sdxl: stopped before step %d of %d: %w", i, len(res.Timesteps), err)
		}
		st := &Step{Index: i, Total: len(res.Timesteps), Timestep: t, Latents: latents, Cond: cond, Scheduler: sched, UNet: p.UNet}
		if latents, err = p.step(ctx, r, st, noise); err != nil {
			return nil, err
		}
	}
	res.Elapsed = time.Since(start)
	p.log.Debug("sdxl generation done", "steps", r.Steps, "images", r.NumImages, "elapsed", res.Elapsed)
	res.Latents = latents
	if r.SkipDecode {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sdxl: stopped before decoding: %w", err)
	}
	if res.Images, err = p.Decode(latents); err != nil {
		return nil, err
	}
	return res, nil
}

// step runs one denoising step and returns the new latents.
func (p *Pipeline) step(ctx context.Context, r *resolved, st *Step, noise *NoiseSource) (*tensor.Dense, error) {
	h := r.Hooks
	where := func(err error) error { return fmt.Errorf("sdxl: step %d (t=%g): %w", st.Index, st.Timestep, err) }
	if h.BeforeStep != nil {
		next, err := h.BeforeStep(ctx, st)
		if err != nil {
			return nil, where(err)
		}
		if next != nil {
			if !next.Shape().Eq(st.Latents.Shape()) || next.Dtype() != tensor.Float32 {
				return nil, where(fmt.Errorf("BeforeStep returned %v %v latents for %v", next.Dtype(), []int(next.Shape()), []int(st.Latents.Shape())))
			}
			st.Latents = next
		}
	}
	x := st.Latents.Data().([]float32)
	in := x
	if st.Cond.Guidance {
		in = append(append(make([]float32, 0, 2*len(x)), x...), x...)
	}
	scaled, err := st.Scheduler.ScaleModelInput(in, st.Index)
	if err != nil {
		return nil, where(err)
	}
	var proc unet.Processor
	if h.Processor != nil {
		if proc, err = h.Processor(st); err != nil {
			return nil, where(err)
		}
	}
	s := st.Latents.Shape()
	sample := tensor.New(tensor.WithShape(st.Cond.Rows(), s[1], s[2], s[3]), tensor.WithBacking(scaled))
	out, err := st.UNet.Forward(ctx, st.Cond.UNetInputs(sample, st.Timestep), unet.Options{Processor: proc})
	if err != nil {
		return nil, where(err)
	}
	if h.AfterUNet != nil {
		if err := h.AfterUNet(st, out); err != nil {
			return nil, where(err)
		}
	}
	eps := out.Sample.Data().([]float32)
	if st.Cond.Guidance {
		if eps, err = applyGuidance(eps, st.Cond.GuidanceScale); err != nil {
			return nil, where(err)
		}
	}
	var z []float32
	if st.Scheduler.StepNeedsNoise(st.Index) {
		z = make([]float32, len(x))
		noise.FillRows(z)
	}
	so, err := st.Scheduler.Step(eps, x, st.Index, z)
	if err != nil {
		return nil, where(err)
	}
	next := tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(so.PrevSample))
	if h.Progress != nil {
		st.Latents = next
		h.Progress(st)
	}
	return next, nil
}

// initialLatents draws (or copies) the starting latents and multiplies them by
// init_noise_sigma in float32, as diffusers' prepare_latents does.
func (p *Pipeline) initialLatents(r *resolved, noise *NoiseSource, sigma float32) *tensor.Dense {
	shape := []int{r.NumImages, p.LatentChannels(), r.latentH, r.latentW}
	var x []float32
	if r.InitLatents != nil {
		src := r.InitLatents
		if src.IsView() {
			src = src.Materialize().(*tensor.Dense)
		}
		x = append([]float32(nil), src.Data().([]float32)...)
	} else {
		x = noise.Tensor(shape...).Data().([]float32)
	}
	for i, v := range x {
		x[i] = v * sigma
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
}

// condition encodes the request's prompts and size conditioning into the batched UNet
// conditioning.
func (p *Pipeline) condition(r *resolved) (*Conditioning, error) {
	preq := PromptRequest{Prompts: []string{r.Prompt}, NumImagesPerPrompt: r.NumImages, Guidance: r.guidance}
	if r.NegativePrompt != nil {
		preq.NegativePrompts = []string{*r.NegativePrompt}
	}
	emb, err := p.Prompt.EncodePrompt(preq)
	if err != nil {
		return nil, err
	}
	ctx, pooled, err := emb.GuidanceBatch()
	if err != nil {
		return nil, err
	}
	return &Conditioning{
		Context: ctx, TextEmbeds: pooled, TimeIDs: AddTimeIDs(r.size, r.negSize, r.NumImages, r.guidance),
		Images: r.NumImages, Guidance: r.guidance, GuidanceScale: r.GuidanceScale, Embeds: emb,
	}, nil
}

// Decode maps latents [N, C, h, w] to images [N, 3, H, W]: the VAE decoder applied to
// latents / scaling_factor (in float32).
func (p *Pipeline) Decode(latents *tensor.Dense) (*tensor.Dense, error) {
	if latents.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("sdxl: decode: latents are %v, want float32", latents.Dtype())
	}
	if latents.IsView() {
		latents = latents.Materialize().(*tensor.Dense)
	}
	sf := float32(p.VAE.ScalingFactor())
	src := latents.Data().([]float32)
	z := make([]float32, len(src))
	for i, v := range src {
		z[i] = v / sf
	}
	img, err := p.VAE.Decode(tensor.New(tensor.WithShape(latents.Shape().Clone()...), tensor.WithBacking(z)))
	if err != nil {
		return nil, fmt.Errorf("sdxl: %w", err)
	}
	return img, nil
}

// ImagesUnit returns diffusers' output_type="np" values of decoded images: (x/2 + 0.5)
// clamped to [0, 1], float32, laid out [N, H, W, 3].
func ImagesUnit(images *tensor.Dense) ([]float32, error) {
	s := images.Shape()
	d, ok := images.Data().([]float32)
	if !ok || len(s) != 4 || s[1] != 3 {
		return nil, fmt.Errorf("sdxl: images are %v %v, want float32 [N, 3, H, W]", images.Dtype(), []int(s))
	}
	n, h, w := s[0], s[2], s[3]
	plane := h * w
	out := make([]float32, len(d))
	for b := 0; b < n; b++ {
		for c := 0; c < 3; c++ {
			for at := 0; at < plane; at++ {
				v := d[(b*3+c)*plane+at]/2 + 0.5
				v = min(max(v, 0), 1)
				out[(b*plane+at)*3+c] = v
			}
		}
	}
	return out, nil
}
