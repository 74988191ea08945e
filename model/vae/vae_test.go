package vae

import (
	"encoding/json"
	"math"
	"math/rand"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
)

// sdxlConfig is stable-diffusion-xl-base-1.0's vae/config.json.
func sdxlConfig() diffusers.VAEConfig {
	c := diffusers.DefaultVAEConfig()
	c.BlockOutChannels = []int{128, 256, 512, 512}
	c.DownBlockTypes = []string{"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}
	c.UpBlockTypes = []string{"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}
	c.LayersPerBlock = 2
	c.SampleSize = diffusers.IntList{1024}
	c.ScalingFactor = 0.13025
	return c
}

// TestSDXLParameterCount checks the SDXL VAE against the spec's totals (§1.6):
// 83,653,863 parameters, 34,163,664 in encoder+quant_conv and 49,490,199 in
// decoder+post_quant_conv.
func TestSDXLParameterCount(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates the 335 MB SDXL VAE")
	}
	m, err := New(sdxlConfig(), tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var enc, dec int
	for _, name := range m.Params.Names() {
		n := m.Params.Get(name).Value.Shape().TotalSize()
		switch {
		case strings.HasPrefix(name, "encoder.") || strings.HasPrefix(name, "quant_conv."):
			enc += n
		case strings.HasPrefix(name, "decoder.") || strings.HasPrefix(name, "post_quant_conv."):
			dec += n
		default:
			t.Errorf("parameter %q is outside encoder, decoder and the quant convs", name)
		}
	}
	if enc != 34163664 || dec != 49490199 || m.Params.Count() != 83653863 {
		t.Errorf("encoder %d, decoder %d, total %d; want 34163664, 49490199, 83653863", enc, dec, m.Params.Count())
	}
	if m.DownFactor() != 8 || m.ScalingFactor() != 0.13025 || m.LatentChannels() != 4 {
		t.Errorf("down factor %d, scaling %v, latent channels %d; want 8, 0.13025, 4", m.DownFactor(), m.ScalingFactor(), m.LatentChannels())
	}
	for _, name := range []string{
		"encoder.down_blocks.3.resnets.1.norm2.weight",
		"encoder.down_blocks.2.downsamplers.0.conv.weight",
		"encoder.mid_block.attentions.0.to_out.0.bias",
		"decoder.up_blocks.3.resnets.2.conv2.weight",
		"decoder.up_blocks.2.resnets.0.conv_shortcut.weight",
		"decoder.up_blocks.2.upsamplers.0.conv.weight",
	} {
		if m.Params.Get(name) == nil {
			t.Errorf("no parameter %q", name)
		}
	}
	for _, name := range []string{"encoder.down_blocks.3.downsamplers.0.conv.weight", "decoder.up_blocks.3.upsamplers.0.conv.weight"} {
		if m.Params.Get(name) != nil {
			t.Errorf("the last block has %q", name)
		}
	}
}

// TestNonSquareTransposeEquivariance runs non-square inputs through a model and through
// a copy whose convolution kernels are transposed: every layer commutes with swapping
// H and W (the downsampler's bottom/right padding maps to right/bottom; attention is
// indifferent to token order), so the copy's output on the transposed input must be the
// transposed output. Any mix-up of H and W breaks this.
func TestNonSquareTransposeEquivariance(t *testing.T) {
	m := randomModel(t, tinyConfig(), tensor.Float32, 1, 0.1)
	mt := randomModel(t, tinyConfig(), tensor.Float32, 1, 0.1)
	for _, name := range mt.Params.Names() {
		if p := mt.Params.Get(name); p.Value.Dims() == 4 {
			src := m.Params.Get(name).Value
			copy(p.Value.Data().([]float32), transposeHW(src).Data().([]float32))
		}
	}
	rng := rand.New(rand.NewSource(2))
	x := randTensor(rng, tensor.Float32, 2, 3, 16, 8)
	d, err := m.Encode(x)
	if err != nil {
		t.Fatal(err)
	}
	if got := []int(d.Mean.Shape()); got[0] != 2 || got[1] != 4 || got[2] != 8 || got[3] != 4 {
		t.Fatalf("mean shape %v, want [2 4 8 4]", got)
	}
	dt, err := mt.Encode(transposeHW(x))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want *tensor.Dense
	}{{"mean", dt.Mean, d.Mean}, {"logvar", dt.LogVar, d.LogVar}} {
		if e := maxRelDiff(t, tc.got, transposeHW(tc.want)); e > 1e-5 {
			t.Errorf("encode %s: transposed model on transposed input differs by %.3g", tc.name, e)
		}
	}

	z := randTensor(rng, tensor.Float32, 2, 4, 6, 3)
	img, err := m.Decode(z)
	if err != nil {
		t.Fatal(err)
	}
	if got := []int(img.Shape()); got[0] != 2 || got[1] != 3 || got[2] != 12 || got[3] != 6 {
		t.Fatalf("decoded shape %v, want [2 3 12 6]", got)
	}
	imgT, err := mt.Decode(transposeHW(z))
	if err != nil {
		t.Fatal(err)
	}
	if e := maxRelDiff(t, imgT, transposeHW(img)); e > 1e-5 {
		t.Errorf("decode: transposed model on transposed latent differs by %.3g", e)
	}

	// Each batch row is computed independently of the others.
	for i := 0; i < 2; i++ {
		di, err := m.Encode(sliceBatch(x, i))
		if err != nil {
			t.Fatal(err)
		}
		if e := maxRelDiff(t, di.Mean, sliceBatch(d.Mean, i)); e > 1e-6 {
			t.Errorf("encode of sample %d alone differs from its batch row by %.3g", i, e)
		}
		zi, err := m.Decode(sliceBatch(z, i))
		if err != nil {
			t.Fatal(err)
		}
		if e := maxRelDiff(t, zi, sliceBatch(img, i)); e > 1e-6 {
			t.Errorf("decode of sample %d alone differs from its batch row by %.3g", i, e)
		}
	}
}

func TestInputShapeErrors(t *testing.T) {
	m := randomModel(t, tinyConfig(), tensor.Float32, 3, 0.1)
	for _, tc := range []struct {
		name   string
		decode bool
		shape  []int
		want   string
	}{
		{"odd height", false, []int{1, 3, 63, 64}, "63×64 (H×W), both must be multiples of 2"},
		{"odd width", false, []int{1, 3, 16, 9}, "16×9 (H×W), both must be multiples of 2"},
		{"4 image channels", false, []int{1, 4, 16, 16}, "image has shape [1 4 16 16], want [B, 3, H, W]"},
		{"3-D image", false, []int{3, 16, 16}, "want [B, 3, H, W]"},
		{"3 latent channels", true, []int{1, 3, 8, 8}, "latent has shape [1 3 8 8], want [B, 4, H, W]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(tc.shape...))
			var err error
			if tc.decode {
				_, err = m.Decode(x)
			} else {
				_, err = m.Encode(x)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The wrong dtype is nn's error, passed on.
	if _, err := m.Encode(tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(1, 3, 8, 8))); err == nil || !strings.Contains(err.Error(), "float64") {
		t.Errorf("float64 image on a float32 model: error %v, want one naming float64", err)
	}
}

func TestConfigVariants(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(c *diffusers.VAEConfig)
		want   string // error substring; "" for success
		absent []string
	}{
		{"cross-attention down block", func(c *diffusers.VAEConfig) { c.DownBlockTypes[1] = "AttnDownEncoderBlock2D" },
			`down_block_types[1] = "AttnDownEncoderBlock2D"`, nil},
		{"up block", func(c *diffusers.VAEConfig) { c.UpBlockTypes[0] = "AttnUpDecoderBlock2D" },
			`up_block_types[0] = "AttnUpDecoderBlock2D"`, nil},
		{"activation", func(c *diffusers.VAEConfig) { c.ActFn = "relu" }, `act_fn "relu"`, nil},
		{"groups", func(c *diffusers.VAEConfig) { c.NormNumGroups = 24 }, "norm_num_groups 24", nil},
		{"bad extra", func(c *diffusers.VAEConfig) {
			c.Extra = map[string]json.RawMessage{"use_quant_conv": json.RawMessage(`"no"`)}
		},
			`"use_quant_conv": "no" is not a boolean`, nil},
		{"no mid attention", func(c *diffusers.VAEConfig) {
			c.Extra = map[string]json.RawMessage{"mid_block_add_attention": json.RawMessage("false")}
		}, "", []string{"encoder.mid_block.attentions.0.to_q.weight", "decoder.mid_block.attentions.0.group_norm.bias"}},
		{"no quant convs", func(c *diffusers.VAEConfig) {
			c.Extra = map[string]json.RawMessage{"use_quant_conv": json.RawMessage("false"), "use_post_quant_conv": json.RawMessage("false")}
		}, "", []string{"quant_conv.weight", "post_quant_conv.bias"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig()
			tc.edit(&c)
			m, err := New(c, tensor.Float32)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for _, name := range tc.absent {
				if m.Params.Get(name) != nil {
					t.Errorf("parameter %q exists", name)
				}
			}
			// The reduced network still runs.
			if _, err := m.Decode(tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(1, 4, 2, 2))); err != nil {
				t.Errorf("decode: %v", err)
			}
		})
	}
}

func TestDistribution(t *testing.T) {
	// moments [2, 2, 1, 2]: per sample, the mean channel then the log-variance channel.
	moments := tensor.New(tensor.WithShape(2, 2, 1, 2), tensor.WithBacking([]float32{
		1, 2, -40, 0, // sample 0: mean 1, 2; logvar -40 (clamped to -30), 0
		3, 4, 25, -2, // sample 1: mean 3, 4; logvar 25 (clamped to 20), -2
	}))
	d, err := newDistribution(moments)
	if err != nil {
		t.Fatal(err)
	}
	wantMean := []float32{1, 2, 3, 4}
	wantLogVar := []float32{-30, 0, 20, -2}
	for i := range wantMean {
		if got := d.Mean.Data().([]float32)[i]; got != wantMean[i] {
			t.Errorf("mean[%d] = %v, want %v", i, got, wantMean[i])
		}
		if got := d.LogVar.Data().([]float32)[i]; got != wantLogVar[i] {
			t.Errorf("logvar[%d] = %v, want %v", i, got, wantLogVar[i])
		}
		if got, want := d.Std.Data().([]float32)[i], float32(math.Exp(float64(wantLogVar[i])/2)); got != want {
			t.Errorf("std[%d] = %v, want %v", i, got, want)
		}
	}
	noise := tensor.New(tensor.WithShape(2, 1, 1, 2), tensor.WithBacking([]float32{0.5, -1, 2, 0.25}))
	s, err := d.Sample(noise)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range noise.Data().([]float32) {
		want := wantMean[i] + d.Std.Data().([]float32)[i]*n
		if got := s.Data().([]float32)[i]; got != want {
			t.Errorf("sample[%d] = %v, want %v", i, got, want)
		}
	}
	if mode := d.Mode(); mode.Data().([]float32)[3] != 4 {
		t.Errorf("mode %v, want the mean", mode.Data())
	}
	if _, err := d.Sample(tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(2, 2, 1, 2))); err == nil || !strings.Contains(err.Error(), "want float32 [2 1 1 2]") {
		t.Errorf("mis-shaped noise: error %v", err)
	}
	if _, err := newDistribution(tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(1, 3, 1, 1))); err == nil {
		t.Error("odd moment channels: no error")
	}
}
