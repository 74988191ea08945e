package unet

import (
	"context"
	"math/rand"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// microSD1 is an SD 1.x-shaped UNet: cross-attention down blocks first, a plain last
// level, no added embedding, 1×1-conv projections unless linear is set.
func microSD1(linear bool) string {
	return strings.Replace(`{"attention_head_dim":2,"block_out_channels":[8,16,16],"cross_attention_dim":6,
"down_block_types":["CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"],
"up_block_types":["UpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D"],
"layers_per_block":1,"norm_num_groups":4,"use_linear_projection":LINEAR}`, "LINEAR", map[bool]string{true: "true", false: "false"}[linear], 1)
}

// TestSD1ConvProjectionEqualsLinear runs an SD 1.x-shaped UNet with 1×1-conv
// projections and the same weights reshaped into linear projections: the outputs must
// agree (the two proj_in/proj_out paths of Transformer2DModel), and the SD1 layout
// (no added embedding, 3 levels, 8×8 multiple) must run.
func TestSD1ConvProjectionEqualsLinear(t *testing.T) {
	conv, err := New(configFromJSON(t, microSD1(false)), tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer conv.Release()
	lin, err := New(configFromJSON(t, microSD1(true)), tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer lin.Release()
	conv.Params().Randomize(rand.New(rand.NewSource(71)), 0.3)
	for _, name := range conv.Params().Names() {
		src := conv.Params().Get(name).Value.Data().([]float32)
		dst := lin.Params().Get(name)
		if dst == nil {
			t.Fatalf("%s missing from the linear-projection model", name)
		}
		if len(src) != dst.Shape().TotalSize() {
			t.Fatalf("%s: %d values vs %v", name, len(src), dst.Shape())
		}
		copy(dst.Value.Data().([]float32), src)
	}
	if w := conv.Params().Get("down_blocks.0.attentions.0.proj_in.weight"); len(w.Shape()) != 4 {
		t.Fatalf("conv proj_in has shape %v", w.Shape())
	}
	rng := rand.New(rand.NewSource(72))
	in := Inputs{Sample: randDense(rng, tensor.Float32, 1, 2, 4, 8, 8), Timesteps: []float64{10, 999}, Context: randDense(rng, tensor.Float32, 1, 2, 3, 6)}
	a, err := conv.Forward(context.Background(), in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := lin.Forward(context.Background(), in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Sample.Shape().Eq(tensor.Shape{2, 4, 8, 8}) {
		t.Fatalf("output shape %v", a.Sample.Shape())
	}
	if d := maxRel(a.Sample, b.Sample); d > 1e-5 {
		t.Errorf("conv and linear projections differ by %.3g", d)
	}
	if len(conv.CrossAttentionModules()) != 2+1+2+2 {
		t.Errorf("cross-attention modules: %v", conv.CrossAttentionModules())
	}
	in.Sample = randDense(rng, tensor.Float32, 1, 2, 4, 4, 4)
	if _, err := conv.Forward(context.Background(), in, Options{}); err != nil {
		t.Errorf("4×4 latent (multiple of 4 = 2 upsamplers): %v", err)
	}
}
