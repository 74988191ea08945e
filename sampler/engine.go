package sampler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/schedule"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/unet"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
)

// run is one request inside a UNet batch: its plan, its caller's context and progress
// sink, and (once the engine is done) its final latents or error.
type run struct {
	plan     *plan
	ctx      context.Context
	progress func(*pb.Progress)
	latents  *tensor.Dense
	err      error
}

// engine runs plans on the loaded pipeline.
type engine struct {
	p     *sdxl.Pipeline
	cross []string // every attn2 module, in graph order
	log   *slog.Logger
}

func newEngine(p *sdxl.Pipeline, log *slog.Logger) *engine {
	return &engine{p: p, cross: p.UNet.CrossAttentionModules(), log: log}
}

// member is a run's per-batch state.
type member struct {
	*run
	sched   schedule.Scheduler
	noise   *sdxl.NoiseSource
	x       []float32 // latents [images, C, h, w]
	context *tensor.Dense
	pooled  *tensor.Dense
	timeIDs *tensor.Dense
	kv      map[string][2][]float32 // module → K, V of every concept at positions
	pos     []int
	cols    []int // bind-trick column map of the request's rows (nil: identity)
}

// runBatch denoises runs that share a batchKey in one UNet batch per step: each run's
// rows (unconditional then conditional, as the pipeline lays them out) follow the
// previous run's. A run whose context ends is dropped at the next step; the others
// continue. Each run gets its latents or its error.
func (e *engine) runBatch(ctx context.Context, runs []*run) {
	ms := make([]*member, 0, len(runs))
	for _, r := range runs {
		m, err := e.prepare(r)
		if err != nil {
			r.err = err
			continue
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return
	}
	ts := ms[0].sched.Timesteps()
	for i, t := range ts {
		live := ms[:0]
		for _, m := range ms {
			if err := m.ctx.Err(); err != nil {
				m.err = fmt.Errorf("stopped before step %d of %d: %w", i+1, len(ts), err)
				continue
			}
			live = append(live, m)
		}
		ms = live
		if len(ms) == 0 {
			return
		}
		if err := e.step(ctx, ms, i, t); err != nil {
			for _, m := range ms {
				m.err = err
			}
			return
		}
	}
	for _, m := range ms {
		s := []int{m.plan.images, e.p.LatentChannels(), m.plan.height / e.p.VAEScaleFactor(), m.plan.width / e.p.VAEScaleFactor()}
		m.latents = tensor.New(tensor.WithShape(s...), tensor.WithBacking(m.x))
	}
}

// prepare encodes a run's prompt, draws its initial latents and collects its concept
// K/V, exactly as the pipeline and blend do for the request alone.
func (e *engine) prepare(r *run) (*member, error) {
	pl := r.plan
	sched, err := e.p.NewScheduler(pl.kind)
	if err != nil {
		return nil, err
	}
	if err := sched.SetTimesteps(pl.steps); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	guidance := pl.scale > 1
	preq := sdxl.PromptRequest{Prompts: []string{pl.req.Prompt}, NumImagesPerPrompt: pl.images, Guidance: guidance}
	if pl.negative != nil {
		preq.NegativePrompts = []string{*pl.negative}
	}
	emb, err := e.p.Prompt.EncodePrompt(preq)
	if err != nil {
		return nil, err
	}
	cctx, pooled, err := emb.GuidanceBatch()
	if err != nil {
		return nil, err
	}
	size := sdxl.SizeConditioning{OriginalSize: [2]int{pl.height, pl.width}, TargetSize: [2]int{pl.height, pl.width}}
	m := &member{run: r, sched: sched, noise: sdxl.NewNoiseSource(pl.seed, pl.images),
		context: cctx, pooled: pooled, timeIDs: sdxl.AddTimeIDs(size, size, pl.images, guidance)}
	f := e.p.VAEScaleFactor()
	m.x = m.noise.Tensor(pl.images, e.p.LatentChannels(), pl.height/f, pl.width/f).Data().([]float32)
	sigma := float32(sched.InitNoiseSigma())
	for i, v := range m.x {
		m.x[i] = v * sigma
	}
	if len(pl.concepts) == 0 {
		return m, nil
	}
	// The blender chose each concept's rows (its place's, for entries with per-place
	// rows), so the batched path writes exactly what blend's hooks would.
	m.kv = make(map[string][2][]float32, len(e.cross))
	for _, mod := range e.cross {
		k, v := pl.blender.Rows(mod)
		m.kv[mod] = [2][]float32{k, v}
	}
	for _, s := range pl.slots {
		m.pos = append(m.pos, s.Positions()...)
	}
	if !pl.opts.NoBinding {
		l := cctx.Shape()[1]
		m.cols = make([]int, l)
		for j := range m.cols {
			m.cols[j] = j
		}
		for _, s := range pl.slots {
			m.cols[s.Start] = s.End - 1
		}
	}
	return m, nil
}

// step runs one denoising step of every member in one UNet call.
func (e *engine) step(ctx context.Context, ms []*member, i int, t float64) error {
	var sample []float32
	var ctxs, pooled, timeIDs []*tensor.Dense
	proc := &batchProcessor{writes: map[string][]rowWrite{}}
	bind := false
	offset := 0
	for _, m := range ms {
		in := m.x
		if m.plan.scale > 1 {
			in = append(append(make([]float32, 0, 2*len(m.x)), m.x...), m.x...)
		}
		scaled, err := m.sched.ScaleModelInput(in, i)
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		sample = append(sample, scaled...)
		ctxs, pooled, timeIDs = append(ctxs, m.context), append(pooled, m.pooled), append(timeIDs, m.timeIDs)
		rows := m.plan.rows()
		if m.plan.blending(t) {
			cond := make([]int, m.plan.images)
			for j := range cond {
				cond[j] = offset + rows - m.plan.images + j
			}
			for _, mod := range e.cross {
				kv := m.kv[mod]
				proc.writes[mod] = append(proc.writes[mod], rowWrite{rows: cond, positions: m.pos, k: kv[0], v: kv[1]})
			}
		}
		if m.cols != nil {
			bind = true
		}
		offset += rows
	}
	if bind {
		for _, m := range ms {
			for range m.plan.rows() {
				proc.cols = append(proc.cols, m.colsOrIdentity())
			}
		}
	}
	var in unet.Inputs
	var err error
	if in.Context, err = catRows(ctxs); err != nil {
		return err
	}
	if in.TextEmbeds, err = catRows(pooled); err != nil {
		return err
	}
	if in.TimeIDs, err = catRows(timeIDs); err != nil {
		return err
	}
	s := []int{offset, e.p.LatentChannels(), ms[0].plan.height / e.p.VAEScaleFactor(), ms[0].plan.width / e.p.VAEScaleFactor()}
	in.Sample = tensor.New(tensor.WithShape(s...), tensor.WithBacking(sample))
	in.Timesteps = []float64{t}
	out, err := e.p.UNet.Forward(ctx, in, unet.Options{Processor: proc})
	if err != nil {
		return fmt.Errorf("step %d (t=%g): unet: %w", i, t, err)
	}
	eps := out.Sample.Data().([]float32)
	per := len(eps) / offset
	offset = 0
	for _, m := range ms {
		rows := m.plan.rows()
		pred := eps[offset*per : (offset+rows)*per]
		offset += rows
		if m.plan.scale > 1 {
			pred = combineGuidance(pred, m.plan.scale)
		}
		var z []float32
		if m.sched.StepNeedsNoise(i) {
			z = make([]float32, len(m.x))
			m.noise.FillRows(z)
		}
		so, err := m.sched.Step(pred, m.x, i, z)
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		m.x = so.PrevSample
		if m.progress != nil {
			m.progress(&pb.Progress{Phase: pb.Phase_PHASE_DENOISING, Step: int32(i + 1), Total: int32(m.plan.steps),
				Timestep: int32(t), Blended: m.plan.blending(t)})
		}
	}
	return nil
}

func (m *member) colsOrIdentity() []int {
	if m.cols != nil {
		return m.cols
	}
	l := m.context.Shape()[1]
	id := make([]int, l)
	for j := range id {
		id[j] = j
	}
	return id
}

// combineGuidance is the pipeline's classifier-free guidance, eps_u + g·(eps_c − eps_u)
// rounded to float32 after each operation, on one request's [2N, …] rows.
func combineGuidance(pred []float32, scale float64) []float32 {
	half := len(pred) / 2
	uncond, cond := pred[:half], pred[half:]
	g := float32(scale)
	out := make([]float32, half)
	for i, u := range uncond {
		d := cond[i] - u
		out[i] = u + float32(g*d) // the conversion keeps Go from fusing into an FMA, as the pipeline does
	}
	return out
}

// catRows concatenates float32 tensors along axis 0.
func catRows(ts []*tensor.Dense) (*tensor.Dense, error) {
	if len(ts) == 0 {
		return nil, errors.New("sampler: no rows to concatenate")
	}
	if len(ts) == 1 {
		return ts[0], nil
	}
	shape := ts[0].Shape().Clone()
	var data []float32
	rows := 0
	for _, t := range ts {
		if t.IsView() {
			t = t.Materialize().(*tensor.Dense)
		}
		d, ok := t.Data().([]float32)
		if !ok || !t.Shape()[1:].Eq(shape[1:]) {
			return nil, fmt.Errorf("sampler: cannot stack a %v %v tensor on %v rows", t.Dtype(), []int(t.Shape()), []int(shape))
		}
		data = append(data, d...)
		rows += t.Shape()[0]
	}
	shape[0] = rows
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data)), nil
}

// runAlone runs a plan that cannot share a batch (blending guidance, rectification)
// through the pipeline with blend's hooks.
func (e *engine) runAlone(r *run) {
	pl := r.plan
	req := sdxl.Request{
		Prompt: pl.req.Prompt, NegativePrompt: pl.negative, Steps: pl.steps, GuidanceScale: pl.scale,
		Height: pl.height, Width: pl.width, Scheduler: pl.kind, NumImages: pl.images, Seed: pl.seed, SkipDecode: true,
	}
	progress := func(st *sdxl.Step) {
		if r.progress != nil {
			r.progress(&pb.Progress{Phase: pb.Phase_PHASE_DENOISING, Step: int32(st.Index + 1), Total: int32(st.Total),
				Timestep: int32(st.Timestep), Blended: pl.blending(st.Timestep),
				Guided:    pl.opts.Guidance && st.Index < pl.opts.GuidanceSteps,
				Rectified: pl.opts.Rectification && st.Index >= int((1-pl.opts.RectificationStart)*float64(st.Total))})
		}
	}
	req.Hooks.Progress = progress
	if pl.blender != nil {
		req.Hooks = pl.blender.Hooks(req.Hooks)
	}
	res, err := e.p.Generate(r.ctx, req)
	if err != nil {
		r.err = err
		return
	}
	r.latents = res.Latents
}
