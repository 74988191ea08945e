package vae

import (
	"math/rand"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// TestStagedMatchesGraph: Encode and Decode, which run one program per step, give the
// same values as EncodeGraph and DecodeGraph built into a single graph.
func TestStagedMatchesGraph(t *testing.T) {
	m := randomModel(t, tinyConfig(), tensor.Float32, 9, 0.1)
	whole := nn.NewProgram(m.Params, func(b *nn.Builder) error {
		x, err := b.Input("x")
		if err != nil {
			return err
		}
		z, err := b.Input("z")
		if err != nil {
			return err
		}
		moments, err := m.EncodeGraph(b, x)
		if err != nil {
			return err
		}
		img, err := m.DecodeGraph(b, z)
		if err != nil {
			return err
		}
		b.Output("moments", moments)
		b.Output("image", img)
		return nil
	}, nn.Hooks{})
	defer whole.Close()
	rng := rand.New(rand.NewSource(10))
	x := randTensor(rng, tensor.Float32, 1, 3, 8, 12)
	z := randTensor(rng, tensor.Float32, 1, 4, 3, 5)
	r, err := whole.Run(map[string]*tensor.Dense{"x": x, "z": z})
	if err != nil {
		t.Fatal(err)
	}
	want, err := newDistribution(r.Outputs["moments"])
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Encode(x)
	if err != nil {
		t.Fatal(err)
	}
	if e := maxRelDiff(t, got.Mean, want.Mean); e > 1e-6 {
		t.Errorf("staged encode mean differs from the single graph by %.3g", e)
	}
	if e := maxRelDiff(t, got.LogVar, want.LogVar); e > 1e-6 {
		t.Errorf("staged encode logvar differs from the single graph by %.3g", e)
	}
	img, err := m.Decode(z)
	if err != nil {
		t.Fatal(err)
	}
	if e := maxRelDiff(t, img, r.Outputs["image"]); e > 1e-6 {
		t.Errorf("staged decode differs from the single graph by %.3g", e)
	}
	// 1 conv_in + 2 resnets + 1 downsampler + 3 mid + head + quant_conv.
	if n := len(m.encoder.progs); n != 9 {
		t.Errorf("encoder runs %d steps, want 9", n)
	}
}
