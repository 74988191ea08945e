package nn

import (
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// benchCase times forward (and, with grads, backward) of one op case in float32.
func benchCase(b *testing.B, tc opCase, flops float64) {
	rng := rand.New(rand.NewSource(1))
	vals := to32(caseInputs(b, tc, rng))
	prog := opProgram(tc, tensor.Float32)
	defer prog.Close()
	if _, err := prog.Run(vals); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := prog.Run(vals); err != nil {
			b.Fatal(err)
		}
	}
	if flops > 0 {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
}

// BenchmarkAttentionFwdBwd: SDXL's 640-wide self-attention (10 heads of 64) over 1024
// tokens (a 32×32 latent), forward + backward for q, k, v.
func BenchmarkAttentionFwdBwd(b *testing.B) {
	const l, c, h = 1024, 640, 10
	tc := opCase{inputs: []namedShape{in("q", 1, l, c), in("k", 1, l, c), in("v", 1, l, c)}, build: func(bb *Builder, n map[string]*G.Node) (*G.Node, error) {
		return bb.Attention(n["q"], n["k"], n["v"], h, 0.125, false)
	}}
	// forward 2 GEMMs, backward 4 + recomputed 1: 7 × 2·L²·c
	benchCase(b, tc, 7*2*l*l*c)
}

// BenchmarkConv3x3FwdBwd: a 320→320 3×3 convolution at 32×32 with input and weight
// gradients.
func BenchmarkConv3x3FwdBwd(b *testing.B) {
	const c, hw = 320, 32
	tc := opCase{inputs: []namedShape{in("x", 1, c, hw, hw), in("w", c, c, 3, 3)}, build: func(bb *Builder, n map[string]*G.Node) (*G.Node, error) {
		return bb.Conv2d(n["x"], n["w"], nil, Conv2dOptions{Pad: 1})
	}}
	benchCase(b, tc, 3*2*c*c*9*hw*hw)
}

// BenchmarkGroupNormSiLU: GroupNorm(32) + SiLU on [1, 320, 64, 64], forward + backward.
func BenchmarkGroupNormSiLU(b *testing.B) {
	tc := opCase{inputs: []namedShape{in("x", 1, 320, 64, 64), in("g", 320), in("b", 320)}, build: func(bb *Builder, n map[string]*G.Node) (*G.Node, error) {
		y, err := bb.GroupNorm(n["x"], n["g"], n["b"], 32, 1e-5)
		if err != nil {
			return nil, err
		}
		return bb.SiLU(y)
	}}
	benchCase(b, tc, 0)
}
