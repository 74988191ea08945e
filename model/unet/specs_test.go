package unet

import (
	"slices"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/model/diffusers"
)

func totalValues(specs []diffusers.ParamSpec) int64 {
	var n int64
	for _, s := range specs {
		n += s.NumElements()
	}
	return n
}

// TestSpecsMatchKeyLists enumerates the SDXL base and the tiny test UNet from their
// configs alone (nothing is allocated) and compares every name and shape with the key
// lists of ../shared/spec.
func TestSpecsMatchKeyLists(t *testing.T) {
	cases := []struct {
		name, tsv string
		cfg       func(t *testing.T) *diffusers.UNetConfig
		tensors   int
		values    int64
	}{
		{"sdxl", "unet-keys-sdxl.tsv", func(t *testing.T) *diffusers.UNetConfig { return configFromJSON(t, sdxlConfig) }, 1680, 2567463684},
		{"tiny", "unet-keys-tiny32x64.tsv", func(t *testing.T) *diffusers.UNetConfig {
			c, err := diffusers.ReadUNetConfig(specPath(t, "../golden/tiny-sdxl/unet/config.json"))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, 428, 1976516},
		{"tiny-builtin", "unet-keys-tiny32x64.tsv", func(*testing.T) *diffusers.UNetConfig { return TinyConfig() }, 428, 1976516},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := diffusers.ReadKeysTSV(specPath(t, tc.tsv))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Specs(tc.cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.tensors || totalValues(got) != tc.values {
				t.Errorf("Specs: %d tensors, %d values; want %d, %d", len(got), totalValues(got), tc.tensors, tc.values)
			}
			wantBy := map[string][]int{}
			for _, s := range want {
				wantBy[s.Name] = s.Shape
			}
			seen := map[string]bool{}
			for _, s := range got {
				if seen[s.Name] {
					t.Errorf("%s listed twice", s.Name)
				}
				seen[s.Name] = true
				w, ok := wantBy[s.Name]
				switch {
				case !ok:
					t.Errorf("unexpected %s %v", s.Name, s.Shape)
				case !slices.Equal(w, s.Shape):
					t.Errorf("%s: shape %v, key list %v", s.Name, s.Shape, w)
				}
			}
			for _, s := range want {
				if !seen[s.Name] {
					t.Errorf("missing %s %v", s.Name, s.Shape)
				}
			}
		})
	}
}

// TestSpecsSD15 checks that an SD 1.x config (conv projections, 4 levels, 8 heads, no
// added embedding) enumerates the well-known 686 tensors / 859,520,964 values, with
// the layer shapes that distinguish it from SDXL.
func TestSpecsSD15(t *testing.T) {
	specs, err := Specs(configFromJSON(t, sd15Config))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 686 || totalValues(specs) != 859520964 {
		t.Errorf("SD1.5: %d tensors, %d values; want 686, 859520964", len(specs), totalValues(specs))
	}
	by := map[string][]int{}
	for _, s := range specs {
		by[s.Name] = s.Shape
	}
	for name, shape := range map[string][]int{
		"down_blocks.0.attentions.0.proj_in.weight":                          {320, 320, 1, 1},
		"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight":  {320, 768},
		"up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj.weight": {2560, 320},
		"up_blocks.0.resnets.2.conv_shortcut.weight":                         {1280, 2560, 1, 1},
		"down_blocks.2.downsamplers.0.conv.weight":                           {1280, 1280, 3, 3},
		"mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0.bias":    {1280},
		"up_blocks.2.upsamplers.0.conv.weight":                               {640, 640, 3, 3},
	} {
		if !slices.Equal(by[name], shape) {
			t.Errorf("%s: %v, want %v", name, by[name], shape)
		}
	}
	if _, ok := by["add_embedding.linear_1.weight"]; ok {
		t.Error("SD1.5 has no add_embedding")
	}
}

func TestUnsupportedConfigNamesTheField(t *testing.T) {
	for field, text := range map[string]string{
		"class_embed_type":        `{"class_embed_type":"timestep"}`,
		"resnet_time_scale_shift": `{"resnet_time_scale_shift":"scale_shift"}`,
		"addition_embed_type":     `{"addition_embed_type":"text"}`,
		"down_block_types[0]":     `{"down_block_types":["SimpleCrossAttnDownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"]}`,
		"mid_block_type":          `{"mid_block_type":"UNetMidBlock2DSimpleCrossAttn"}`,
		"not divisible":           `{"attention_head_dim":[3,8,8,8]}`,
	} {
		_, err := Specs(configFromJSON(t, text))
		if err == nil {
			t.Errorf("%s accepted", field)
			continue
		}
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}
