package unet

import (
	"encoding/json"
	"fmt"

	"github.com/latexblend/latexblend/model/diffusers"
)

// tinyConfigJSON is the UNet of diffusers' SDXL pipeline test before PR #5290
// (block_out_channels (32, 64), 32 groups): the shape of ../shared/golden/tiny-sdxl.
const tinyConfigJSON = `{"act_fn":"silu","addition_embed_type":"text_time","addition_time_embed_dim":8,
"attention_head_dim":[2,4],"block_out_channels":[32,64],"cross_attention_dim":64,
"down_block_types":["DownBlock2D","CrossAttnDownBlock2D"],"up_block_types":["CrossAttnUpBlock2D","UpBlock2D"],
"in_channels":4,"out_channels":4,"layers_per_block":2,"norm_num_groups":32,"sample_size":32,
"projection_class_embeddings_input_dim":80,"transformer_layers_per_block":[1,2],"use_linear_projection":true}`

// midConfigJSON is an SDXL-shaped UNet scaled down for CPU benchmarks: the same block
// types, 64-wide heads, text_time conditioning, channels [128, 256, 512], transformer
// depths [1, 2, 2] and a 512-wide context (138,407,428 parameters; 32.7 GFLOP per evaluation at a 32×32 latent).
const midConfigJSON = `{"act_fn":"silu","addition_embed_type":"text_time","addition_time_embed_dim":64,
"attention_head_dim":[2,4,8],"block_out_channels":[128,256,512],"cross_attention_dim":512,
"down_block_types":["DownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D"],
"up_block_types":["CrossAttnUpBlock2D","CrossAttnUpBlock2D","UpBlock2D"],
"in_channels":4,"out_channels":4,"layers_per_block":2,"norm_num_groups":32,"sample_size":64,
"projection_class_embeddings_input_dim":640,"transformer_layers_per_block":[1,2,2],"use_linear_projection":true}`

// TinyConfig returns the tiny SDXL test UNet config (1,976,516 parameters).
func TinyConfig() *diffusers.UNetConfig { return mustConfig(tinyConfigJSON) }

// MidConfig returns the mid-size SDXL-shaped benchmark config.
func MidConfig() *diffusers.UNetConfig { return mustConfig(midConfigJSON) }

func mustConfig(text string) *diffusers.UNetConfig {
	c := diffusers.DefaultUNetConfig()
	if err := json.Unmarshal([]byte(text), &c); err != nil {
		panic(fmt.Sprintf("unet: built-in config: %v", err))
	}
	if err := c.Validate(); err != nil {
		panic(fmt.Sprintf("unet: built-in config: %v", err))
	}
	return &c
}
