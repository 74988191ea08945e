package diffusers

import (
	"encoding/json"
	"fmt"
	"path/filepath"
)

// UNetConfig is unet/config.json of a UNet2DConditionModel. Pointer fields are the
// ones diffusers allows to be null; IntList/BoolList fields accept one value or one
// per block.
type UNetConfig struct {
	ClassName                         string   `json:"_class_name"`
	DiffusersVersion                  string   `json:"_diffusers_version"`
	SampleSize                        IntList  `json:"sample_size"` // latent size: one int or [h, w]
	InChannels                        int      `json:"in_channels"`
	OutChannels                       int      `json:"out_channels"`
	CenterInputSample                 bool     `json:"center_input_sample"`
	FlipSinToCos                      bool     `json:"flip_sin_to_cos"`
	FreqShift                         int      `json:"freq_shift"`
	DownBlockTypes                    []string `json:"down_block_types"`
	MidBlockType                      *string  `json:"mid_block_type"`
	UpBlockTypes                      []string `json:"up_block_types"`
	OnlyCrossAttention                BoolList `json:"only_cross_attention"`
	BlockOutChannels                  []int    `json:"block_out_channels"`
	LayersPerBlock                    IntList  `json:"layers_per_block"`
	DownsamplePadding                 int      `json:"downsample_padding"`
	MidBlockScaleFactor               float64  `json:"mid_block_scale_factor"`
	Dropout                           float64  `json:"dropout"`
	ActFn                             string   `json:"act_fn"`
	NormNumGroups                     *int     `json:"norm_num_groups"`
	NormEps                           float64  `json:"norm_eps"`
	CrossAttentionDim                 IntList  `json:"cross_attention_dim"`
	TransformerLayersPerBlock         IntList  `json:"transformer_layers_per_block"`
	EncoderHidDim                     *int     `json:"encoder_hid_dim"`
	EncoderHidDimType                 *string  `json:"encoder_hid_dim_type"`
	AttentionHeadDim                  IntList  `json:"attention_head_dim"`
	NumAttentionHeads                 IntList  `json:"num_attention_heads"`
	DualCrossAttention                bool     `json:"dual_cross_attention"`
	UseLinearProjection               bool     `json:"use_linear_projection"`
	ClassEmbedType                    *string  `json:"class_embed_type"`
	AdditionEmbedType                 *string  `json:"addition_embed_type"`
	AdditionTimeEmbedDim              *int     `json:"addition_time_embed_dim"`
	NumClassEmbeds                    *int     `json:"num_class_embeds"`
	UpcastAttention                   bool     `json:"upcast_attention"`
	ResnetTimeScaleShift              string   `json:"resnet_time_scale_shift"`
	ResnetSkipTimeAct                 bool     `json:"resnet_skip_time_act"`
	ResnetOutScaleFactor              float64  `json:"resnet_out_scale_factor"`
	TimeEmbeddingType                 string   `json:"time_embedding_type"`
	TimeEmbeddingDim                  *int     `json:"time_embedding_dim"`
	TimeEmbeddingActFn                *string  `json:"time_embedding_act_fn"`
	TimestepPostAct                   *string  `json:"timestep_post_act"`
	TimeCondProjDim                   *int     `json:"time_cond_proj_dim"`
	ConvInKernel                      int      `json:"conv_in_kernel"`
	ConvOutKernel                     int      `json:"conv_out_kernel"`
	ProjectionClassEmbeddingsInputDim *int     `json:"projection_class_embeddings_input_dim"`
	AttentionType                     string   `json:"attention_type"`
	ClassEmbeddingsConcat             bool     `json:"class_embeddings_concat"`
	MidBlockOnlyCrossAttention        *bool    `json:"mid_block_only_cross_attention"`
	CrossAttentionNorm                *string  `json:"cross_attention_norm"`
	AdditionEmbedTypeNumHeads         int      `json:"addition_embed_type_num_heads"`

	// Extra holds keys this struct does not declare, undecoded.
	Extra map[string]json.RawMessage `json:"-"`
}

// DefaultUNetConfig returns UNet2DConditionModel's constructor defaults (diffusers
// v0.21.4), which apply to keys a config.json leaves out.
func DefaultUNetConfig() UNetConfig {
	mid := "UNetMidBlock2DCrossAttn"
	groups := 32
	return UNetConfig{
		ClassName:                 "UNet2DConditionModel",
		InChannels:                4,
		OutChannels:               4,
		FlipSinToCos:              true,
		DownBlockTypes:            []string{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"},
		MidBlockType:              &mid,
		UpBlockTypes:              []string{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"},
		OnlyCrossAttention:        BoolList{false},
		BlockOutChannels:          []int{320, 640, 1280, 1280},
		LayersPerBlock:            IntList{2},
		DownsamplePadding:         1,
		MidBlockScaleFactor:       1,
		ActFn:                     "silu",
		NormNumGroups:             &groups,
		NormEps:                   1e-5,
		CrossAttentionDim:         IntList{1280},
		TransformerLayersPerBlock: IntList{1},
		AttentionHeadDim:          IntList{8},
		ResnetTimeScaleShift:      "default",
		ResnetOutScaleFactor:      1,
		TimeEmbeddingType:         "positional",
		ConvInKernel:              3,
		ConvOutKernel:             3,
		AttentionType:             "default",
		AdditionEmbedTypeNumHeads: 64,
	}
}

// ReadUNetConfig reads a UNet config.json (e.g. dir/unet/config.json).
func ReadUNetConfig(path string) (*UNetConfig, error) {
	c := DefaultUNetConfig()
	extra, err := readJSONFile(path, &c)
	if err != nil {
		return nil, err
	}
	c.Extra = extra
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("diffusers: %s: %w", path, err)
	}
	return &c, nil
}

// Validate checks the per-block lists agree with each other.
func (c *UNetConfig) Validate() error {
	n := len(c.DownBlockTypes)
	if n == 0 {
		return fmt.Errorf("down_block_types is empty")
	}
	if len(c.UpBlockTypes) != n {
		return fmt.Errorf("up_block_types has %d entries, down_block_types %d", len(c.UpBlockTypes), n)
	}
	if len(c.BlockOutChannels) != n {
		return fmt.Errorf("block_out_channels has %d entries, down_block_types %d", len(c.BlockOutChannels), n)
	}
	for i, ch := range c.BlockOutChannels {
		if ch <= 0 {
			return fmt.Errorf("block_out_channels[%d] = %d, want > 0", i, ch)
		}
		if c.NormNumGroups != nil && (*c.NormNumGroups <= 0 || ch%*c.NormNumGroups != 0) {
			return fmt.Errorf("block_out_channels[%d] = %d is not divisible by norm_num_groups %d", i, ch, *c.NormNumGroups)
		}
	}
	if c.InChannels <= 0 || c.OutChannels <= 0 {
		return fmt.Errorf("in_channels %d / out_channels %d must be > 0", c.InChannels, c.OutChannels)
	}
	if _, err := c.HeadsPerBlock(); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		l    IntList
	}{{"layers_per_block", c.LayersPerBlock}, {"transformer_layers_per_block", c.TransformerLayersPerBlock}, {"cross_attention_dim", c.CrossAttentionDim}} {
		v, err := f.l.Expand(f.name, n)
		if err != nil {
			return err
		}
		for i, x := range v {
			if x <= 0 {
				return fmt.Errorf("%s[%d] = %d, want > 0", f.name, i, x)
			}
		}
	}
	if _, err := c.OnlyCrossAttention.Expand("only_cross_attention", n); err != nil {
		return err
	}
	return nil
}

// HeadsPerBlock returns the attention head count of each down block. diffusers names
// this attention_head_dim for historical reasons; num_attention_heads, when set, wins.
func (c *UNetConfig) HeadsPerBlock() ([]int, error) {
	if len(c.NumAttentionHeads) > 0 {
		return c.NumAttentionHeads.Expand("num_attention_heads", len(c.DownBlockTypes))
	}
	return c.AttentionHeadDim.Expand("attention_head_dim", len(c.DownBlockTypes))
}

// TransformerLayers returns the transformer blocks per attention of each down block
// (the mid block uses the last entry).
func (c *UNetConfig) TransformerLayers() ([]int, error) {
	return c.TransformerLayersPerBlock.Expand("transformer_layers_per_block", len(c.DownBlockTypes))
}

// Layers returns the resnets per down block (up blocks have one more).
func (c *UNetConfig) Layers() ([]int, error) {
	return c.LayersPerBlock.Expand("layers_per_block", len(c.DownBlockTypes))
}

// CrossAttentionDims returns the context width of each down block.
func (c *UNetConfig) CrossAttentionDims() ([]int, error) {
	return c.CrossAttentionDim.Expand("cross_attention_dim", len(c.DownBlockTypes))
}

// TimeEmbedDim is the width of the timestep embedding: time_embedding_dim or
// 4 × block_out_channels[0].
func (c *UNetConfig) TimeEmbedDim() int {
	if c.TimeEmbeddingDim != nil {
		return *c.TimeEmbeddingDim
	}
	return 4 * c.BlockOutChannels[0]
}

// ReadUNetConfigIn reads <dir>/unet/config.json.
func ReadUNetConfigIn(dir string) (*UNetConfig, error) {
	return ReadUNetConfig(filepath.Join(dir, "unet", ConfigFile))
}
