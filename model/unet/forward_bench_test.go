package unet

import (
	"context"
	"math/rand"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
)

// BenchmarkForwardTiny and BenchmarkForwardMid time the inference forward of the
// benchmark configs (graph compiled before the timer starts).
func BenchmarkForwardTiny(b *testing.B) { benchForward(b, TinyConfig(), 2, 32) }

func BenchmarkForwardMid(b *testing.B) { benchForward(b, MidConfig(), 1, 32) }

func benchForward(b *testing.B, cfg *diffusers.UNetConfig, batch, size int) {
	m, err := New(cfg, tensor.Float32)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Release()
	rng := rand.New(rand.NewSource(1))
	m.Params().Randomize(rng, 0.02)
	a := m.plan
	in := Inputs{
		Sample:     randTensor(rng, batch, a.inCh, size, size),
		Timesteps:  []float64{500},
		Context:    randTensor(rng, batch, 77, a.down[0].crossDim),
		TextEmbeds: randTensor(rng, batch, a.addInDim-6*a.addTimeDim),
		TimeIDs:    randTensor(rng, batch, 6),
	}
	if _, err := m.Forward(context.Background(), in, Options{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(context.Background(), in, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
