package blend

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"time"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/schedule"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/unet"
)

// BenchConfig sizes `latexblend bench blend`.
type BenchConfig struct {
	// UNet is the model config (random weights); nil is unet.TinyConfig.
	UNet *diffusers.UNetConfig
	// Size is the latent side (32: the tiny model's 64×64 images).
	Size int
	// Reps timed calls per measurement; the fastest counts (the least disturbed by
	// other load on the machine).
	Reps int
	// Concepts are the concept counts timed in replace mode.
	Concepts []int
	// Progress receives one line per measurement (nil: none).
	Progress io.Writer
}

// BenchResult holds best-of-Reps wall times in milliseconds.
type BenchResult struct {
	// StepMS maps a concept count to the time of one guidance-batched UNet call in
	// replace mode (0: the plain UNet, no processor).
	StepMS map[int]float64
	// GuidanceMS is one blending-guidance pass (conditional forward + backward to the
	// latents, 2 concepts); RectifyMS one rectified step (2 concepts); SaveMS the
	// rectification save step (attention reads, spectral clustering, masks).
	GuidanceMS, RectifyMS, SaveMS float64
	Size                          int
	Params                        int
}

// Line is the benchmark's key=value summary.
func (r BenchResult) Line() string {
	keys := make([]int, 0, len(r.StepMS))
	for k := range r.StepMS {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var s string
	for _, k := range keys {
		s += fmt.Sprintf("concepts%d_ms=%.2f ", k, r.StepMS[k])
	}
	base := r.StepMS[0]
	if n := keys[len(keys)-1]; base > 0 {
		s += fmt.Sprintf("ratio%d=%.3f ", n, r.StepMS[n]/base)
	}
	return s + fmt.Sprintf("guidance_ms=%.2f guidance_ratio=%.2f rectify_ms=%.2f rectify_ratio=%.3f save_ms=%.2f save_ratio=%.2f latent=%d params=%d",
		r.GuidanceMS, r.GuidanceMS/base, r.RectifyMS, r.RectifyMS/base, r.SaveMS, r.SaveMS/base, r.Size, r.Params)
}

const benchScheduler = `{"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
 "num_train_timesteps": 1000, "prediction_type": "epsilon", "steps_offset": 1, "timestep_spacing": "leading"}`

// RunBench times the sampler step with 0…N concepts in replace mode (bind trick on)
// and the guidance, rectified and save steps, on a UNet with random weights. One image
// per step (a guidance batch of 2 rows), 77 tokens.
func RunBench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if cfg.UNet == nil {
		cfg.UNet = unet.TinyConfig()
	}
	if cfg.Size == 0 {
		cfg.Size = 32
	}
	if cfg.Reps <= 0 {
		cfg.Reps = 5
	}
	if len(cfg.Concepts) == 0 {
		cfg.Concepts = []int{0, 1, 2, 4, 8}
	}
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}
	m, err := unet.New(cfg.UNet, tensor.Float32)
	if err != nil {
		return BenchResult{}, err
	}
	defer m.Release()
	rng := rand.New(rand.NewPCG(1, 2))
	randT := func(scale float64, shape ...int) *tensor.Dense {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * rng.NormFloat64())
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	for _, name := range m.Params().Names() {
		d := m.Params().Get(name).Value.Data().([]float32)
		for i := range d {
			d[i] = float32(0.02 * rng.NormFloat64())
		}
	}
	ucfg := m.Config()
	cross := ucfg.CrossAttentionDim[0]
	pooled := 0
	if ucfg.ProjectionClassEmbeddingsInputDim != nil && ucfg.AdditionTimeEmbedDim != nil {
		pooled = *ucfg.ProjectionClassEmbeddingsInputDim - 6**ucfg.AdditionTimeEmbedDim
	}
	if ucfg.AdditionEmbedType == nil || *ucfg.AdditionEmbedType != "text_time" || pooled < 1 {
		return BenchResult{}, fmt.Errorf("blend: bench needs an SDXL-style (text_time) UNet config")
	}
	cond := &sdxl.Conditioning{
		Context: randT(1, 2, 77, cross), TextEmbeds: randT(1, 2, pooled),
		TimeIDs: tensor.New(tensor.WithShape(2, 6), tensor.WithBacking([]float32{512, 512, 0, 0, 512, 512, 512, 512, 0, 0, 512, 512})),
		Images:  1, Guidance: true, GuidanceScale: 6,
	}
	sc, err := schedule.ParseConfig([]byte(benchScheduler))
	if err != nil {
		return BenchResult{}, err
	}
	sched, err := schedule.New(sc, schedule.KindEuler)
	if err != nil {
		return BenchResult{}, err
	}
	if err := sched.SetTimesteps(50); err != nil {
		return BenchResult{}, err
	}
	const stepIndex = 25
	latents := randT(1, 1, ucfg.InChannels, cfg.Size, cfg.Size)
	step := func(total int) *sdxl.Step {
		return &sdxl.Step{Index: stepIndex, Total: total, Timestep: sched.Timesteps()[stepIndex], Latents: latents, Cond: cond, Scheduler: sched, UNet: m}
	}
	sample := randT(1, 2, ucfg.InChannels, cfg.Size, cfg.Size)
	inputs := cond.UNetInputs(sample, sched.Timesteps()[stepIndex])
	best := func(f func() error) (float64, error) {
		var ts []float64
		for i := 0; i <= cfg.Reps; i++ { // call 0 compiles the graph
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			start := time.Now()
			if err := f(); err != nil {
				return 0, err
			}
			if i > 0 {
				ts = append(ts, float64(time.Since(start).Microseconds())/1e3)
			}
		}
		sort.Float64s(ts)
		return ts[0], nil
	}
	// blender makes a Blender with n concepts of random rows in slots [2i+1, 2i+3).
	blender := func(n int, o Options) *Blender {
		b := &Blender{opts: o, kv: map[string][2]*tensor.Dense{}, layers: m.CrossAttentionModules(), log: slog.New(slog.DiscardHandler)}
		for i := 0; i < n; i++ {
			b.slots = append(b.slots, Slot{ClassNoun: fmt.Sprintf("c%d", i), Start: 2*i + 1, End: 2*i + 3})
		}
		for _, mod := range m.AttentionModules(cfg.Size, cfg.Size) {
			if mod.Cross {
				b.kv[mod.Path] = [2]*tensor.Dense{randT(1, 1, 2*n, mod.Channels), randT(1, 1, 2*n, mod.Channels)}
			}
		}
		return b
	}
	res := BenchResult{StepMS: map[int]float64{}, Size: cfg.Size, Params: m.Params().Count()}
	o := DefaultOptions()
	o.BlendingStart = 1
	for _, n := range cfg.Concepts {
		var proc unet.Processor
		if n > 0 {
			if proc, err = blender(n, o).stepProcessor(step(50)); err != nil {
				return res, err
			}
		}
		ms, err := best(func() error {
			_, err := m.Forward(ctx, inputs, unet.Options{Processor: proc})
			return err
		})
		if err != nil {
			return res, err
		}
		res.StepMS[n] = ms
		say("replace, %d concepts: %.2f ms per step", n, ms)
	}
	// Guidance pass (2 concepts, fixed objective).
	g := o
	g.Guidance, g.GuidanceSteps = true, 50
	bg := blender(2, g)
	if res.GuidanceMS, err = best(func() error { _, err := bg.guide(ctx, step(50)); return err }); err != nil {
		return res, err
	}
	say("guidance pass: %.2f ms", res.GuidanceMS)
	// Save step and rectified steps (2 concepts): saving happens at index 25 of 30 steps
	// (rectification_start 1/6), rectified steps after it.
	r := o
	r.Rectification, r.RectificationStart, r.KMeansInit = true, 1.0/6, 10
	br := blender(2, r)
	save := step(30)
	if br.opts.saveStep(30) != stepIndex {
		return res, fmt.Errorf("blend: bench: save step %d, want %d", br.opts.saveStep(30), stepIndex)
	}
	if res.SaveMS, err = best(func() error {
		proc, err := br.stepProcessor(save)
		if err != nil {
			return err
		}
		out, err := m.Forward(ctx, inputs, unet.Options{Processor: proc})
		if err != nil {
			return err
		}
		return br.saveAttention(save, out)
	}); err != nil {
		return res, err
	}
	say("rectification save step: %.2f ms", res.SaveMS)
	later := step(30)
	later.Index = stepIndex + 1
	proc, err := br.stepProcessor(later)
	if err != nil {
		return res, err
	}
	if len(proc.(*processor).rect) == 0 {
		return res, fmt.Errorf("blend: bench: the rectified step has no rectification")
	}
	if res.RectifyMS, err = best(func() error {
		_, err := m.Forward(ctx, inputs, unet.Options{Processor: proc})
		return err
	}); err != nil {
		return res, err
	}
	say("rectified step: %.2f ms", res.RectifyMS)
	return res, nil
}
