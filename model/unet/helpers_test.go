package unet

import (
	"os"
	"path/filepath"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/safetensors"
)

// configFromJSON writes a config.json into a temporary folder and reads it back the
// way a model folder is read.
func configFromJSON(t testing.TB, text string) *diffusers.UNetConfig {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := diffusers.ReadUNetConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// specPath returns a file of ../shared/spec (the golden folder's sibling).
func specPath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(golden.Dir(t), "..", "spec", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("spec file %s is absent", p)
	}
	return p
}

// readTensors reads every tensor of a golden safetensors file as float32.
func readTensors(t *testing.T, path string) map[string]*tensor.Dense {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*tensor.Dense{}
	for _, name := range f.Names() {
		info, _ := f.Info(name)
		if !info.DType.IsFloat() {
			continue
		}
		v, shape, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(shape) == 0 {
			shape = []int{1}
		}
		out[name] = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	return out
}

// relDiff is max|got-want| / max|want|.
func relDiff(got, want []float32) float64 {
	var md, mw float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		if d < 0 {
			d = -d
		}
		w := float64(want[i])
		if w < 0 {
			w = -w
		}
		md, mw = max(md, d), max(mw, w)
	}
	if mw == 0 {
		return md
	}
	return md / mw
}

const sdxlConfig = `{"_class_name":"UNet2DConditionModel","act_fn":"silu","addition_embed_type":"text_time",
"addition_embed_type_num_heads":64,"addition_time_embed_dim":256,"attention_head_dim":[5,10,20],
"block_out_channels":[320,640,1280],"center_input_sample":false,"class_embed_type":null,
"class_embeddings_concat":false,"conv_in_kernel":3,"conv_out_kernel":3,"cross_attention_dim":2048,
"cross_attention_norm":null,"down_block_types":["DownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D"],
"downsample_padding":1,"dual_cross_attention":false,"encoder_hid_dim":null,"encoder_hid_dim_type":null,
"flip_sin_to_cos":true,"freq_shift":0,"in_channels":4,"layers_per_block":2,"mid_block_only_cross_attention":null,
"mid_block_scale_factor":1,"mid_block_type":"UNetMidBlock2DCrossAttn","norm_eps":1e-05,"norm_num_groups":32,
"num_attention_heads":null,"num_class_embeds":null,"only_cross_attention":false,"out_channels":4,
"projection_class_embeddings_input_dim":2816,"resnet_out_scale_factor":1.0,"resnet_skip_time_act":false,
"resnet_time_scale_shift":"default","sample_size":128,"time_cond_proj_dim":null,"time_embedding_act_fn":null,
"time_embedding_dim":null,"time_embedding_type":"positional","timestep_post_act":null,
"transformer_layers_per_block":[1,2,10],"up_block_types":["CrossAttnUpBlock2D","CrossAttnUpBlock2D","UpBlock2D"],
"upcast_attention":null,"use_linear_projection":true}`

// sd15Config is runwayml/stable-diffusion-v1-5's unet/config.json (conv projections,
// 8 heads per block, four levels, no added embedding).
const sd15Config = `{"_class_name":"UNet2DConditionModel","act_fn":"silu","attention_head_dim":8,
"block_out_channels":[320,640,1280,1280],"center_input_sample":false,"cross_attention_dim":768,
"down_block_types":["CrossAttnDownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"],
"downsample_padding":1,"flip_sin_to_cos":true,"freq_shift":0,"in_channels":4,"layers_per_block":2,
"mid_block_scale_factor":1,"norm_eps":1e-05,"norm_num_groups":32,"out_channels":4,"sample_size":64,
"up_block_types":["UpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D"]}`

// microConfig is a very small SDXL-shaped UNet (two levels, text_time) for fast unit
// tests and the float64 gradient checks.
const microConfig = `{"act_fn":"silu","addition_embed_type":"text_time","addition_time_embed_dim":4,
"attention_head_dim":[1,2],"block_out_channels":[8,16],"cross_attention_dim":12,
"down_block_types":["DownBlock2D","CrossAttnDownBlock2D"],"up_block_types":["CrossAttnUpBlock2D","UpBlock2D"],
"in_channels":4,"out_channels":4,"layers_per_block":1,"norm_num_groups":4,
"projection_class_embeddings_input_dim":14,"transformer_layers_per_block":[1,1],"use_linear_projection":true}`
