package unet

import (
	"math/rand"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/nn"
)

// micro builds the microConfig UNet with random weights of the given dtype.
func micro(t testing.TB, dt tensor.Dtype, seed int64) *Model {
	t.Helper()
	m, err := New(configFromJSON(t, microConfig), dt)
	if err != nil {
		t.Fatal(err)
	}
	m.Params().Randomize(rand.New(rand.NewSource(seed)), 0.3)
	t.Cleanup(func() { m.Release() })
	return m
}

func randDense(rng *rand.Rand, dt tensor.Dtype, std float64, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if dt == tensor.Float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64() * std
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * std)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// microInputs are batch-2, 8×8 inputs with a 5-token context for the micro UNet.
func microInputs(dt tensor.Dtype, seed int64) Inputs {
	rng := rand.New(rand.NewSource(seed))
	ids := []float64{64, 48, 0, 0, 64, 64, 32, 16}
	tid := nn.DenseFromFloat64(dt, ids[:4], 2, 2)
	return Inputs{
		Sample:     randDense(rng, dt, 1, 2, 4, 8, 8),
		Timesteps:  []float64{700, 300},
		Context:    randDense(rng, dt, 1, 2, 5, 12),
		TextEmbeds: randDense(rng, dt, 1, 2, 6),
		TimeIDs:    tid,
	}
}

func flat(t *tensor.Dense) []float64 { return nn.Float64s(t) }

func maxRel(got, want *tensor.Dense) float64 {
	g, w := flat(got), flat(want)
	var md, mw float64
	for i := range w {
		d := g[i] - w[i]
		if d < 0 {
			d = -d
		}
		a := w[i]
		if a < 0 {
			a = -a
		}
		md, mw = max(md, d), max(mw, a)
	}
	return md / mw
}

func randSrc(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }

// paramSource serves a model's own parameters as a checkpoint.
type paramSource struct{ m *Model }

func (s paramSource) Names() []string { return s.m.Params().Names() }

func (s paramSource) Info(name string) (safetensors.TensorInfo, bool) {
	p := s.m.Params().Get(name)
	if p == nil {
		return safetensors.TensorInfo{}, false
	}
	return safetensors.TensorInfo{Name: name, DType: safetensors.F32, Shape: []int(p.Shape())}, true
}

func (s paramSource) Float32Into(name string, dst []float32) error {
	copy(dst, s.m.Params().Get(name).Value.Data().([]float32))
	return nil
}
