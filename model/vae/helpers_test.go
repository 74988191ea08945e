package vae

import (
	"math"
	"math/rand"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
)

// tinyConfig is the golden tiny-sdxl VAE's config: two blocks of 32 and 64 channels,
// one resnet per encoder block, 32 groups, scale-down factor 2.
func tinyConfig() diffusers.VAEConfig {
	c := diffusers.DefaultVAEConfig()
	c.BlockOutChannels = []int{32, 64}
	c.DownBlockTypes = []string{"DownEncoderBlock2D", "DownEncoderBlock2D"}
	c.UpBlockTypes = []string{"UpDecoderBlock2D", "UpDecoderBlock2D"}
	return c
}

// randomModel builds a model from cfg with N(0, std²) parameters.
func randomModel(t *testing.T, cfg diffusers.VAEConfig, dtype tensor.Dtype, seed int64, std float64) *Model {
	t.Helper()
	m, err := New(cfg, dtype)
	if err != nil {
		t.Fatal(err)
	}
	m.Params.Randomize(rand.New(rand.NewSource(seed)), std)
	t.Cleanup(func() { m.Close() })
	return m
}

func randTensor(rng *rand.Rand, dtype tensor.Dtype, shape ...int) *tensor.Dense {
	x := tensor.New(tensor.Of(dtype), tensor.WithShape(shape...))
	switch d := x.Data().(type) {
	case []float32:
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
	case []float64:
		for i := range d {
			d[i] = rng.NormFloat64()
		}
	}
	return x
}

// transposeHW swaps the last two axes of a [B, C, H, W] float32 tensor.
func transposeHW(x *tensor.Dense) *tensor.Dense {
	s := x.Shape()
	bc, h, w := s[0]*s[1], s[2], s[3]
	src := x.Data().([]float32)
	dst := make([]float32, len(src))
	for p := 0; p < bc; p++ {
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				dst[p*h*w+j*h+i] = src[p*h*w+i*w+j]
			}
		}
	}
	return tensor.New(tensor.WithShape(s[0], s[1], w, h), tensor.WithBacking(dst))
}

// maxRelDiff is max|a-b| / max|b| over two float32 tensors of the same shape.
func maxRelDiff(t *testing.T, a, b *tensor.Dense) float64 {
	t.Helper()
	if !a.Shape().Eq(b.Shape()) {
		t.Fatalf("shapes %v and %v differ", a.Shape(), b.Shape())
	}
	x, y := a.Data().([]float32), b.Data().([]float32)
	var diff, mag float64
	for i := range x {
		diff = max(diff, math.Abs(float64(x[i])-float64(y[i])))
		mag = max(mag, math.Abs(float64(y[i])))
	}
	return diff / mag
}

// sliceBatch returns sample i of a [B, …] float32 tensor as a [1, …] tensor.
func sliceBatch(x *tensor.Dense, i int) *tensor.Dense {
	s := x.Shape().Clone()
	n := s.TotalSize() / s[0]
	d := append([]float32(nil), x.Data().([]float32)[i*n:(i+1)*n]...)
	s[0] = 1
	return tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
}
