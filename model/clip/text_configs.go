package clip

import "github.com/latexblend/latexblend/model/diffusers"

// CLIPViTLTextConfig is SDXL's text_encoder: the CLIP ViT-L/14 text transformer
// (CLIPTextModel; 768 wide, 12 layers, 12 heads, quick_gelu).
func CLIPViTLTextConfig() diffusers.CLIPTextConfig {
	c := diffusers.DefaultCLIPTextConfig()
	c.Architectures = []string{"CLIPTextModel"}
	c.HiddenSize, c.IntermediateSize, c.ProjectionDim = 768, 3072, 768
	c.NumHiddenLayers, c.NumAttentionHeads = 12, 12
	c.HiddenAct = "quick_gelu"
	return c
}

// OpenCLIPBigGTextConfig is SDXL's text_encoder_2: the OpenCLIP ViT-bigG/14 text
// transformer with its projection (CLIPTextModelWithProjection; 1280 wide, 32 layers,
// 20 heads, exact GELU, 1280→1280 text_projection).
func OpenCLIPBigGTextConfig() diffusers.CLIPTextConfig {
	c := diffusers.DefaultCLIPTextConfig()
	c.Architectures = []string{"CLIPTextModelWithProjection"}
	c.HiddenSize, c.IntermediateSize, c.ProjectionDim = 1280, 5120, 1280
	c.NumHiddenLayers, c.NumAttentionHeads = 32, 20
	c.HiddenAct = "gelu"
	return c
}

// TinyTextConfig is the text-encoder config of the tiny SDXL test model (diffusers'
// SDXL pipeline test components with CLIP's real vocabulary size): 32 wide, 37-wide
// MLP, 5 layers, 4 heads, exact GELU, projection 32 when withProjection.
func TinyTextConfig(withProjection bool) diffusers.CLIPTextConfig {
	c := diffusers.DefaultCLIPTextConfig()
	c.Architectures = []string{"CLIPTextModel"}
	if withProjection {
		c.Architectures = []string{"CLIPTextModelWithProjection"}
	}
	c.HiddenSize, c.IntermediateSize, c.ProjectionDim = 32, 37, 32
	c.NumHiddenLayers, c.NumAttentionHeads = 5, 4
	c.HiddenAct = "gelu"
	return c
}
