package base

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/nn"
)

// tinyConfig is a run small enough for a unit test: two steps per phase.
func tinyConfig() Config {
	c := DefaultConfig()
	c.VAESteps, c.VAEBatch = 2, 1
	c.UNetSteps, c.UNetBatch = 2, 2
	c.PoolSize = 2
	c.LogEvery = 1
	return c
}

// TestTrainSmoke runs both phases for two steps, then loads the written folder through
// the SDXL pipeline and generates a 2-step image from it.
func TestTrainSmoke(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	var reports []Progress
	cfg.Progress = func(p Progress) { reports = append(reports, p) }
	res, err := Train(context.Background(), dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !finite(res.VAERecon) || !finite(res.UNetLoss) || res.VAERecon <= 0 || res.UNetLoss <= 0 {
		t.Fatalf("losses vae %v unet %v, want finite and positive", res.VAERecon, res.UNetLoss)
	}
	if !finite(res.ScalingFactor) || res.ScalingFactor <= 0 {
		t.Fatalf("scaling factor %v", res.ScalingFactor)
	}
	if len(reports) != 4 || reports[3].Phase != "unet" || reports[3].Step != 2 || reports[3].ETA != 0 {
		t.Fatalf("progress reports %+v, want 2 vae and 2 unet with the last at 2/2, ETA 0", reports)
	}
	vc, err := diffusers.ReadVAEConfig(filepath.Join(dir, "vae", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(vc.ScalingFactor-res.ScalingFactor) > 1e-9 {
		t.Fatalf("vae/config.json scaling_factor %v, trained %v", vc.ScalingFactor, res.ScalingFactor)
	}
	generate2(t, dir)
}

// generate2 loads dir through model/sdxl and checks a 2-step, guided 64×64 generation.
func generate2(t *testing.T, dir string) {
	t.Helper()
	p, err := sdxl.Load(dir, sdxl.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if h, w := p.DefaultSize(); h != ImageSize || w != ImageSize {
		t.Fatalf("default size %dx%d, want %d", h, w, ImageSize)
	}
	res, err := p.Generate(context.Background(), sdxl.Request{Prompt: "a photo of a red circle", Steps: 2, GuidanceScale: 5})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Images.Shape(); len(s) != 4 || s[0] != 1 || s[1] != 3 || s[2] != ImageSize || s[3] != ImageSize {
		t.Fatalf("image shape %v", s)
	}
	for i, v := range res.Images.Data().([]float32) {
		if !finite(float64(v)) {
			t.Fatalf("image value %d is %v", i, v)
		}
	}
}

// TestVAEOverfits trains the VAE on one fixed image: the loss must fall.
func TestVAEOverfits(t *testing.T) {
	m := newTestModel(t)
	x, _, err := renderBatch(7, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newVAETrainer([]*vae.Model{m.vae}, 1, lrSchedule{Peak: 2e-3, Total: 12}, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var first, last vaeStats
	for step := range 12 {
		tr.rng = rand.New(rand.NewPCG(1, 2)) // the same posterior noise every step
		st, err := tr.step(step, x)
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			first = st
		}
		last = st
	}
	if !(last.Recon < 0.7*first.Recon) {
		t.Fatalf("reconstruction error %v after 12 steps, first %v: want a drop of at least 30%%", last.Recon, first.Recon)
	}
}

// TestUNetOverfits trains the UNet and text encoders on one fixed batch of two latents
// with the same noise and timesteps every step: the loss must fall.
func TestUNetOverfits(t *testing.T) {
	m := newTestModel(t)
	tr, err := newUNetTrainer([]*denoiser{m.denoiser()}, m.tok1, m.tok2, 1, lrSchedule{Peak: 2e-3, Total: 10}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	per := latentChannels * LatentSize * LatentSize
	rng := rand.New(rand.NewPCG(3, 4))
	batch := unetBatch{Latents: normals(rng, 2*per), Captions: []string{"a photo of a red circle", "a blue square and a yellow star"}}
	var losses []float64
	for step := range 10 {
		tr.rng = rand.New(rand.NewPCG(5, 6))
		st, err := tr.step(step, batch)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(st.Loss-st.MSE) > 1e-4*st.MSE {
			t.Fatalf("step %d: loss %v, epsilon MSE %v: without min-SNR they are the same", step, st.Loss, st.MSE)
		}
		losses = append(losses, st.Loss)
	}
	if !(losses[9] < 0.8*losses[0]) {
		t.Fatalf("losses %v: want the last below 80%% of the first", losses)
	}
}

// newTestModel builds a fresh model whose tokenizers live in a temporary folder.
func newTestModel(t *testing.T) *model {
	t.Helper()
	dir := t.TempDir()
	if err := writeStatic(dir); err != nil {
		t.Fatal(err)
	}
	m, err := newModel(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"no vae steps", func(c *Config) { c.VAESteps = 0 }},
		{"no unet batch", func(c *Config) { c.UNetBatch = 0 }},
		{"zero lr", func(c *Config) { c.UNetLR = 0 }},
		{"dropout 1", func(c *Config) { c.CaptionDropout = 1 }},
		{"more replicas than rows", func(c *Config) { c.Replicas = c.UNetBatch + 1 }},
		{"negative replicas", func(c *Config) { c.Replicas = -1 }},
		{"tail swap above 1", func(c *Config) { c.TailSwap = 1.5 }},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if _, err := Train(context.Background(), t.TempDir(), c); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestLRSchedule(t *testing.T) {
	s := lrSchedule{Peak: 1, Warmup: 10, Total: 110, Floor: 0.1}
	for _, tc := range []struct {
		step int
		want float64
	}{{0, 0.1}, {9, 1}, {10, 1}, {60, 0.55}, {110, 0.1}} {
		if got := s.at(tc.step); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("lr at %d = %v, want %v", tc.step, got, tc.want)
		}
	}
}

// committedModel is the committed base model, relative to this package.
const committedModel = "../model"

// TestCommittedModel loads the committed folder, generates from it and pins its identity.
func TestCommittedModel(t *testing.T) {
	if _, err := os.Stat(filepath.Join(committedModel, "model_index.json")); err != nil {
		t.Fatalf("the committed base model is missing: %v", err)
	}
	id1, err := diffusers.Identity(committedModel)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := diffusers.Identity(committedModel)
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 {
		t.Fatalf("identity changed between two reads: %s, %s", id1, id2)
	}
	if id1 != committedIdentity {
		t.Fatalf("identity of %s is %s, want %s (update committedIdentity when the weights are retrained on purpose)", committedModel, id1, committedIdentity)
	}
	generate2(t, committedModel)
}

// committedIdentity is diffusers.Identity of the committed shapes/model.
const committedIdentity = "974dd0c8400204d0a6cfb6b8e89159786d552e97ad14794661975cf7aea12e7a"

// TestCropBatch checks that every crop is an aligned window of its own image and that
// bad sizes are refused.
func TestCropBatch(t *testing.T) {
	const b, c, side = 3, 2, 16
	src := make([]float32, b*c*side*side)
	for i := range src {
		src[i] = float32(i)
	}
	x := dense(src, b, c, side, side)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[int]bool{}
	for range 20 {
		out, err := cropBatch(rng, x, 8, 4)
		if err != nil {
			t.Fatal(err)
		}
		if s := out.Shape(); s[0] != b || s[1] != c || s[2] != 8 || s[3] != 8 {
			t.Fatalf("crop shape %v", s)
		}
		got := out.Data().([]float32)
		for i := range b {
			first := int(got[i*c*64]) - i*c*side*side // offset of the window in image i
			oy, ox := first/side, first%side
			if oy%4 != 0 || ox%4 != 0 || oy > 8 || ox > 8 {
				t.Fatalf("image %d: window at (%d, %d), want multiples of 4 within the image", i, oy, ox)
			}
			seen[first] = true
			for ch := range c {
				for y := range 8 {
					for xx := range 8 {
						want := float32((i*c+ch)*side*side + (oy+y)*side + ox + xx)
						if v := got[((i*c+ch)*8+y)*8+xx]; v != want {
							t.Fatalf("image %d channel %d (%d, %d) = %v, want %v", i, ch, y, xx, v, want)
						}
					}
				}
			}
		}
	}
	if len(seen) < 5 {
		t.Fatalf("only %d distinct windows in 60 crops", len(seen))
	}
	if same, err := cropBatch(rng, x, side, 4); err != nil || same != x {
		t.Fatalf("whole-image crop: %v, %v", same, err)
	}
	for _, bad := range []int{0, 6, 20} {
		if _, err := cropBatch(rng, x, bad, 4); err == nil {
			t.Errorf("crop %d accepted", bad)
		}
	}
}

// TestMinSNRWeight checks min(SNR, γ)/SNR against the schedule's ᾱ: 1 where the SNR is
// below γ (noisy timesteps), γ/SNR where it is above, 1 everywhere with γ = 0.
func TestMinSNRWeight(t *testing.T) {
	m := newTestModel(t)
	tr, err := newUNetTrainer([]*denoiser{m.denoiser()}, m.tok1, m.tok2, 1, lrSchedule{Peak: 1e-3, Total: 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, ts := range []float64{0, 500, 999} {
		if w := tr.rowWeight(ts); w != 1 {
			t.Fatalf("γ = 0: weight at t=%v is %v, want 1", ts, w)
		}
	}
	tr.snrGamma = 5
	a0 := tr.acp[0]
	if w, want := tr.rowWeight(0), 5/(a0/(1-a0)); math.Abs(w-want) > 1e-12 || w >= 0.01 {
		t.Fatalf("weight at t=0 (SNR %.0f) is %v, want %v", a0/(1-a0), w, want)
	}
	if w := tr.rowWeight(999); w != 1 {
		t.Fatalf("weight at t=999 is %v, want 1", w)
	}
	prev := 0.0
	for ts := 0; ts < 1000; ts += 37 {
		w := tr.rowWeight(float64(ts))
		if w < prev || w > 1 {
			t.Fatalf("weight at t=%d is %v after %v: want non-decreasing in t and at most 1", ts, w, prev)
		}
		prev = w
	}
}

// TestEMA checks the moving average against its closed form and that swap exchanges
// the live weights and the averages.
func TestEMA(t *testing.T) {
	ps := nn.NewParams(tensor.Float32)
	p := ps.New("w", 2)
	w := p.Value.Data().([]float32)
	w[0], w[1] = 1, 2
	e := newEMA([]*nn.Param{p}, 0.5)
	w[0], w[1] = 3, 6
	e.update() // decay min(0.5, 2/11) = 2/11
	d := float32(2.0 / 11)
	want := []float32{d*1 + (1-d)*3, d*2 + (1-d)*6}
	for i := range want {
		if math.Abs(float64(e.shadow[0][i]-want[i])) > 1e-6 {
			t.Fatalf("average %v, want %v", e.shadow[0], want)
		}
	}
	e.swap()
	if w[0] != want[0] || e.shadow[0][0] != 3 {
		t.Fatalf("after swap live %v shadow %v", w, e.shadow[0])
	}
	e.swap()
	if w[0] != 3 || w[1] != 6 {
		t.Fatalf("swapping twice gave %v, want the live weights back", w)
	}
}

// TestReplicasMatchOneGraph runs the same UNet steps on one graph and on three replicas
// splitting a batch of 5 unevenly (2, 2, 1): losses, gradients and updated weights must
// agree to float rounding, and the replicas must hold the first one's weights after
// each step.
func TestReplicasMatchOneGraph(t *testing.T) {
	one, multi := newTestModel(t), newTestModel(t)
	reps := []*denoiser{multi.denoiser()}
	for range 2 {
		d, err := multi.denoiserCopy()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.u.Release() })
		reps = append(reps, d)
	}
	lr := lrSchedule{Peak: 1e-3, Total: 2}
	ta, err := newUNetTrainer([]*denoiser{one.denoiser()}, one.tok1, one.tok2, 1, lr, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	defer ta.Close()
	tb, err := newUNetTrainer(reps, multi.tok1, multi.tok2, 1, lr, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	ta.snrGamma, tb.snrGamma = 5, 5
	per := latentChannels * LatentSize * LatentSize
	rng := rand.New(rand.NewPCG(7, 8))
	batch := unetBatch{Latents: normals(rng, 5*per), Captions: []string{"a photo of a red circle",
		"a blue square and a yellow star", "a star", "a checkered circle", "a ring on the left of a cross"}}
	for step := range 2 {
		a, err := ta.step(step, batch)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tb.step(step, batch)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(a.Loss-b.Loss) > 1e-5*a.Loss || math.Abs(a.MSE-b.MSE) > 1e-5*a.MSE || math.Abs(a.GradNorm-b.GradNorm) > 1e-4*a.GradNorm {
			t.Fatalf("step %d: one graph %+v, three replicas %+v", step, a, b)
		}
		for i, p := range ta.params {
			q := tb.params[i]
			if p.Name != q.Name {
				t.Fatalf("parameter %d: %s against %s", i, p.Name, q.Name)
			}
			if d := maxAbsDiff(p.Grad.Data().([]float32), q.Grad.Data().([]float32)); d > 1e-5 {
				t.Fatalf("step %d: gradient of %s differs by %g", step, p.Name, d)
			}
			// Adam divides by √v, so an element whose gradient is near 0 can move by a
			// good part of the learning rate on rounding alone.
			if d := maxAbsDiff(p.Value.Data().([]float32), q.Value.Data().([]float32)); d > 0.1*lr.Peak {
				t.Fatalf("step %d: %s differs by %g after the update", step, p.Name, d)
			}
			for r, d := range tb.set.params[1:] {
				if diff := maxAbsDiff(q.Value.Data().([]float32), d[i].Value.Data().([]float32)); diff != 0 {
					t.Fatalf("step %d: replica %d's %s is %g off the first replica's", step, r+1, p.Name, diff)
				}
			}
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// TestVAEReplicasMatchOneGraph is the same for the VAE, whose loss is a mean over each
// replica's own rows: a batch of 5 on 2 replicas (3 and 2 rows) must give the one-graph
// loss, reconstruction error and gradients.
func TestVAEReplicasMatchOneGraph(t *testing.T) {
	one, multi := newTestModel(t), newTestModel(t)
	c, err := multi.vaeCopy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	lr := lrSchedule{Peak: 2e-3, Total: 2}
	ta, err := newVAETrainer([]*vae.Model{one.vae}, 1, lr, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	defer ta.Close()
	tb, err := newVAETrainer([]*vae.Model{multi.vae, c}, 1, lr, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	x, _, err := renderBatch(11, 5)
	if err != nil {
		t.Fatal(err)
	}
	if x, err = cropBatch(rand.New(rand.NewPCG(1, 2)), x, 16, 4); err != nil {
		t.Fatal(err)
	}
	a, err := ta.step(0, x)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tb.step(0, x)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(a.Loss-b.Loss) > 1e-5*a.Loss || math.Abs(a.Recon-b.Recon) > 1e-6*a.Recon || math.Abs(a.KL-b.KL) > 1e-5*a.KL || math.Abs(a.GradNorm-b.GradNorm) > 1e-4*a.GradNorm {
		t.Fatalf("one graph %+v, two replicas %+v", a, b)
	}
	for i, p := range ta.params {
		if d := maxAbsDiff(p.Grad.Data().([]float32), tb.params[i].Grad.Data().([]float32)); d > 1e-5 {
			t.Fatalf("gradient of %s differs by %g", p.Name, d)
		}
		if d := maxAbsDiff(tb.params[i].Value.Data().([]float32), tb.set.params[1][i].Value.Data().([]float32)); d != 0 {
			t.Fatalf("the replica's %s is %g off after the step", p.Name, d)
		}
	}
}

// TestTailSwap checks the donor-tail branch: with every row swapped, donors equal to
// the rows' own captions must give exactly the unswapped loss (the branch rebuilds the
// same context), and other donors must change it.
func TestTailSwap(t *testing.T) {
	m := newTestModel(t)
	per := latentChannels * LatentSize * LatentSize
	caps := []string{"a photo of a red circle", "a blue square and a yellow star"}
	lossWith := func(swap float64, donors []string) float64 {
		t.Helper()
		tr, err := newUNetTrainer([]*denoiser{m.denoiser()}, m.tok1, m.tok2, 1, lrSchedule{Peak: 1e-3, Total: 1}, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		tr.setTailSwap(swap)
		in, err := tr.inputs(unetBatch{Latents: normals(rand.New(rand.NewPCG(3, 4)), 2*per), Captions: caps, Donors: donors})
		if err != nil {
			t.Fatal(err)
		}
		if swap > 0 {
			own := in[inTailOwn].Data().([]float32)
			take := in[inTailTake].Data().([]float32)
			d := len(own) / (2 * 77)
			eos := slices.Index(m.tok1.EncodePadded(caps[0]), m.tok1.EOS())
			if own[(eos-1)*d] != 1 || own[eos*d] != 0 || take[eos*d] != 1 || take[(eos-1)*d] != 0 {
				t.Fatalf("row 0's tail masks around its EOS at %d: own %v %v, take %v %v", eos, own[(eos-1)*d], own[eos*d], take[(eos-1)*d], take[eos*d])
			}
			// The pooled embedding is encoder 2's end-of-text state: a swapped row takes the
			// donor's whole.
			pOwn := in[inPooledOwn].Data().([]float32)
			pTake := in[inPooledTake].Data().([]float32)
			for i := range pOwn {
				if pOwn[i] != 0 || pTake[i] != 1 {
					t.Fatalf("pooled masks at %d with every row swapped: own %v, take %v", i, pOwn[i], pTake[i])
				}
			}
		}
		loss, _, err := tr.set.run(in, 2, outPred)
		if err != nil {
			t.Fatal(err)
		}
		return loss
	}
	plain := lossWith(0, nil)
	same := lossWith(1, caps)
	other := lossWith(1, []string{"a purple ring", "a checkered cross on the left of a green triangle"})
	// own·1 + donor·0 is exactly own, so the loss must not move at all; a freshly
	// initialised UNet barely reads its context, so other donors move it only a little
	// (about 4e-6 relative), but far above zero.
	if same != plain {
		t.Fatalf("donors = own captions: loss %v, without swapping %v", same, plain)
	}
	if math.Abs(other-plain) < 1e-7*plain {
		t.Fatalf("other donors: loss %v, the same as without swapping (%v)", other, plain)
	}
	if _, err := (&unetTrainer{}).inputs(unetBatch{}); err == nil {
		t.Fatal("an empty batch was accepted")
	}
}
