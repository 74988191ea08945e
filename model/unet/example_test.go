package unet_test

import (
	"context"
	"fmt"
	"math/rand"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/unet"
)

func randn(rng *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// Example runs the tiny SDXL test UNet (random weights) once plainly and once with
// LatexBlend-style edits: concept K/V written into the conditional row of one
// cross-attention layer, the bind trick on every layer, and that layer's attention
// probabilities read back.
func Example() {
	m, err := unet.New(unet.TinyConfig(), tensor.Float32)
	if err != nil {
		panic(err)
	}
	defer m.Release()
	rng := rand.New(rand.NewSource(1))
	m.Params().Randomize(rng, 0.05)
	in := unet.Inputs{
		Sample:     randn(rng, 2, 4, 16, 16), // [uncond, cond]
		Timesteps:  []float64{801},
		Context:    randn(rng, 2, 77, 64),
		TextEmbeds: randn(rng, 2, 32),
		TimeIDs:    tensor.New(tensor.WithShape(2, 6), tensor.WithBacking([]float32{64, 64, 0, 0, 64, 64, 64, 64, 0, 0, 64, 64})),
	}
	layer := m.CrossAttentionModules()[0]
	edits := &unet.Edits{
		ReplaceKV: map[string]unet.KVRows{layer: {
			Rows: []int{1}, Positions: []int{1, 2}, // "a dog" → the bank's [modifier, noun]
			K: randn(rng, 2, 64), V: randn(rng, 2, 64),
		}},
		ScoreColumns: []unet.ColumnCopy{{From: 2, To: 1}},
		ReadProbs:    []string{layer},
	}
	out, err := m.Forward(context.Background(), in, unet.Options{Processor: edits})
	if err != nil {
		panic(err)
	}
	fmt.Println(layer)
	fmt.Println("noise prediction", out.Sample.Shape())
	fmt.Println("probabilities", out.Extra[layer+".probs"].Shape())
	// Output:
	// down_blocks.1.attentions.0.transformer_blocks.0.attn2
	// noise prediction (2, 4, 16, 16)
	// probabilities (2, 4, 64, 77)
}
