package base

import (
	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/model/diffusers"
)

// The model's fixed sizes. The image side is the shapes world's default; the VAE halves
// it twice, and the UNet's one downsampling puts its cross-attention on an 8×8 grid.
const (
	ImageSize      = 64
	vaeDownFactor  = 4
	LatentSize     = ImageSize / vaeDownFactor
	latentChannels = 4
	// textWidth is each encoder's hidden size; the UNet's context is both joined.
	textWidth = 32
	// pooledWidth is text_encoder_2's projection, SDXL's pooled text embedding.
	pooledWidth = 32
	// timeIDWidth is the sinusoid width of each of the six add_time_ids.
	timeIDWidth = 8
	// maxTokens keeps CLIP's 77-token context so prompts pad exactly as SDXL's do.
	maxTokens = 77
)

// UNetConfig is the UNet's diffusers config: SDXL's block types at widths 32/64, one
// resnet per level, 4 heads of 16 in the cross-attention level, text_time conditioning
// with a 32-wide pooled embedding and 8-wide time ids (32 + 6·8 = 80).
func UNetConfig() diffusers.UNetConfig {
	c := diffusers.DefaultUNetConfig()
	c.DiffusersVersion = "0.21.4"
	c.SampleSize = diffusers.IntList{LatentSize}
	c.BlockOutChannels = []int{32, 64}
	c.DownBlockTypes = []string{"DownBlock2D", "CrossAttnDownBlock2D"}
	c.UpBlockTypes = []string{"CrossAttnUpBlock2D", "UpBlock2D"}
	c.LayersPerBlock = diffusers.IntList{1}
	c.AttentionHeadDim = diffusers.IntList{2, 4}
	c.TransformerLayersPerBlock = diffusers.IntList{1, 1}
	c.CrossAttentionDim = diffusers.IntList{2 * textWidth}
	c.UseLinearProjection = true
	textTime := "text_time"
	c.AdditionEmbedType = &textTime
	tdim := timeIDWidth
	c.AdditionTimeEmbedDim = &tdim
	proj := pooledWidth + 6*timeIDWidth
	c.ProjectionClassEmbeddingsInputDim = &proj
	groups := 16
	c.NormNumGroups = &groups
	return c
}

// VAEConfig is the AutoencoderKL: three levels (16, 32, 64 channels, so a 4× smaller
// latent), one resnet per level, 8 groups. ScalingFactor is a placeholder until the
// trained encoder's latent spread is measured.
func VAEConfig() diffusers.VAEConfig {
	c := diffusers.DefaultVAEConfig()
	c.DiffusersVersion = "0.21.4"
	c.BlockOutChannels = []int{16, 32, 64}
	c.DownBlockTypes = []string{"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}
	c.UpBlockTypes = []string{"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}
	c.LayersPerBlock = 1
	c.NormNumGroups = 8
	c.LatentChannels = latentChannels
	c.SampleSize = diffusers.IntList{ImageSize}
	c.ScalingFactor = 1
	c.ForceUpcast = false
	return c
}

// TextConfig is one text encoder: 32 wide, a 64-wide MLP, 3 layers of 4 heads, over the
// shapes tokenizer's vocabulary (vocabSize ids, <|endoftext|> the highest). The second
// encoder adds a 32-wide text_projection.
func TextConfig(vocabSize int, withProjection bool) diffusers.CLIPTextConfig {
	c := clip.TinyTextConfig(withProjection)
	c.VocabSize = vocabSize
	c.HiddenSize, c.IntermediateSize = textWidth, 2*textWidth
	c.NumHiddenLayers, c.NumAttentionHeads = 3, 4
	c.MaxPositionEmbeddings = maxTokens
	c.ProjectionDim = pooledWidth
	c.TorchDType = "float32"
	c.TransformersVersion = "4.30.2"
	if !withProjection {
		c.HiddenAct = "quick_gelu" // CLIP-L's activation; OpenCLIP bigG's is exact GELU
	}
	return c
}

// SchedulerConfig is SDXL's EulerDiscreteScheduler config; training uses the same betas.
func SchedulerConfig() diffusers.SchedulerConfig {
	c := diffusers.DefaultSchedulerConfig("EulerDiscreteScheduler")
	c.DiffusersVersion = "0.21.4"
	c.BetaStart, c.BetaEnd, c.BetaSchedule = 0.00085, 0.012, "scaled_linear"
	c.TimestepSpacing = "leading"
	c.StepsOffset = 1
	return c
}
