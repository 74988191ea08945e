package blend

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/unet"
)

func dense64(v []float64, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// TestGuidanceGradientThroughUNet checks the fixed objective's d(loss)/d(latents)
// through the whole tiny UNet in float64 (golden tiny-sdxl weights, random text rows,
// two blended concepts) against central differences at a few latent entries.
func TestGuidanceGradientThroughUNet(t *testing.T) {
	dir := filepath.Join(golden.Dir(t), "tiny-sdxl")
	cfg, err := diffusers.ReadUNetConfigIn(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := unet.New(cfg, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	w, err := diffusers.OpenWeights(filepath.Join(dir, "unet"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := m.Load(w); err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	rng := rand.New(rand.NewPCG(8, 9))
	randn := func(n int, s float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = s * rng.NormFloat64()
		}
		return v
	}
	const bs = 1
	sample := randn(bs*4*32*32, 1)
	ctx := dense64(randn(bs*77*64, 1), bs, 77, 64)
	te := dense64(randn(bs*32, 1), bs, 32)
	ti := dense64([]float64{64, 64, 0, 0, 64, 64}, bs, 6)
	// Concept rows for slots [1,3) and [4,6) of every attn2.
	kv := map[string]unet.KVRows{}
	for _, mod := range m.CrossAttentionModules() {
		kv[mod] = unet.KVRows{Rows: []int{0}, Positions: []int{1, 2, 4, 5},
			K: dense64(randn(4*64, 2), 4, 64), V: dense64(randn(4*64, 2), 4, 64)}
	}
	spec := LossSpec{Concepts: []LossConcept{{1, []int{2}}, {4, []int{5}}}}
	eval := func(grad bool) (float64, []float64) {
		p := &processor{loss: &spec}
		p.edits.ReplaceKV = kv
		out, err := m.Forward(context.Background(), unet.Inputs{Sample: dense64(sample, bs, 4, 32, 32), Timesteps: []float64{601}, Context: ctx, TextEmbeds: te, TimeIDs: ti},
			unet.Options{Processor: p, GradSample: grad})
		if err != nil {
			t.Fatal(err)
		}
		if !grad {
			return out.Loss, nil
		}
		return out.Loss, out.SampleGrad.Data().([]float64)
	}
	loss, g := eval(true)
	if loss == 0 || math.IsNaN(loss) {
		t.Fatalf("loss %v", loss)
	}
	var gmax float64
	for _, v := range g {
		gmax = math.Max(gmax, math.Abs(v))
	}
	for _, i := range []int{17, 700, 2049, 4000} {
		orig := sample[i]
		const h = 1e-4
		sample[i] = orig + h
		up, _ := eval(false)
		sample[i] = orig - h
		down, _ := eval(false)
		sample[i] = orig
		fd := (up - down) / (2 * h)
		t.Logf("sample[%d]: analytic %.8g, finite difference %.8g", i, g[i], fd)
		if math.Abs(fd-g[i]) > 1e-4*gmax+1e-3*math.Abs(fd) {
			t.Errorf("d loss/d sample[%d]: analytic %.8g, finite difference %.8g (max |g| %.3g)", i, g[i], fd, gmax)
		}
	}
}
