package unet

import (
	"fmt"

	"github.com/latexblend/latexblend/model/diffusers"
)

// Block type names of diffusers' get_down_block / get_up_block.
const (
	downPlain = "DownBlock2D"
	downCross = "CrossAttnDownBlock2D"
	upPlain   = "UpBlock2D"
	upCross   = "CrossAttnUpBlock2D"
	midCross  = "UNetMidBlock2DCrossAttn"
)

// arch is the layer plan derived from a config: everything Specs, the model
// constructor and the FLOP counter need, resolved once (per-block lists expanded,
// diffusers' attention_head_dim quirk applied).
type arch struct {
	inCh, outCh        int
	convInK, convOutK  int
	groups             int
	eps                float64
	linearProj         bool
	flipSinToCos       bool
	freqShift          int
	timeInDim, timeDim int // sinusoid width (block_out_channels[0]) and time embedding width
	addTimeDim         int // 0 without the text_time added embedding
	addInDim           int // projection_class_embeddings_input_dim
	midScale           float64
	resnetScale        float64
	downPadding        int
	down               []blockArch
	mid                *blockArch // nil when mid_block_type is null
	up                 []blockArch
	numUpsamplers      int
}

// blockArch is one down, mid or up block.
type blockArch struct {
	name       string // "down_blocks.1", "mid_block", "up_blocks.0"
	cross      bool
	resnets    []resnetArch
	heads      int
	depth      int // transformer blocks per attention
	crossDim   int
	channels   int // the block's output channels (transformer width)
	downsample bool
	upsample   bool
}

// resnetArch is one ResnetBlock2D: channels in and out.
type resnetArch struct{ in, out int }

// planOf checks that the config uses only features this package implements and lays
// out the network the way diffusers v0.21.4's UNet2DConditionModel.__init__ does.
func planOf(c *diffusers.UNetConfig) (*arch, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("unet: config: %w", err)
	}
	if err := unsupported(c); err != nil {
		return nil, err
	}
	n := len(c.DownBlockTypes)
	heads, err := c.HeadsPerBlock()
	if err != nil {
		return nil, fmt.Errorf("unet: config: %w", err)
	}
	depth, err := c.TransformerLayers()
	if err != nil {
		return nil, fmt.Errorf("unet: config: %w", err)
	}
	layers, err := c.Layers()
	if err != nil {
		return nil, fmt.Errorf("unet: config: %w", err)
	}
	cross, err := c.CrossAttentionDims()
	if err != nil {
		return nil, fmt.Errorf("unet: config: %w", err)
	}
	groups := 32
	if c.NormNumGroups != nil {
		groups = *c.NormNumGroups
	}
	ch := c.BlockOutChannels
	a := &arch{
		inCh: c.InChannels, outCh: c.OutChannels,
		convInK: c.ConvInKernel, convOutK: c.ConvOutKernel,
		groups: groups, eps: c.NormEps,
		linearProj:   c.UseLinearProjection,
		flipSinToCos: c.FlipSinToCos, freqShift: c.FreqShift,
		timeInDim: ch[0], timeDim: c.TimeEmbedDim(),
		midScale: c.MidBlockScaleFactor, resnetScale: c.ResnetOutScaleFactor,
		downPadding: c.DownsamplePadding,
	}
	if a.convInK%2 == 0 || a.convOutK%2 == 0 {
		return nil, fmt.Errorf("unet: config: conv_in_kernel %d / conv_out_kernel %d must be odd", a.convInK, a.convOutK)
	}
	if c.AdditionEmbedType != nil && *c.AdditionEmbedType == "text_time" {
		if c.AdditionTimeEmbedDim == nil || *c.AdditionTimeEmbedDim <= 0 || c.ProjectionClassEmbeddingsInputDim == nil || *c.ProjectionClassEmbeddingsInputDim <= 0 {
			return nil, fmt.Errorf("unet: config: addition_embed_type text_time needs positive addition_time_embed_dim and projection_class_embeddings_input_dim")
		}
		a.addTimeDim = *c.AdditionTimeEmbedDim
		a.addInDim = *c.ProjectionClassEmbeddingsInputDim
	}
	for i, ch := range c.BlockOutChannels {
		if ch%heads[i] != 0 {
			return nil, fmt.Errorf("unet: config: block_out_channels[%d] = %d is not divisible by its %d attention heads (attention_head_dim/num_attention_heads)", i, ch, heads[i])
		}
	}

	out := ch[0]
	for i, typ := range c.DownBlockTypes {
		in := out
		out = ch[i]
		b := blockArch{name: fmt.Sprintf("down_blocks.%d", i), heads: heads[i], depth: depth[i], crossDim: cross[i], channels: out, downsample: i < n-1}
		switch typ {
		case downCross:
			b.cross = true
		case downPlain:
		default:
			return nil, fmt.Errorf("unet: config: down_block_types[%d] = %q is not supported (want %s or %s)", i, typ, downPlain, downCross)
		}
		for j := 0; j < layers[i]; j++ {
			rin := out
			if j == 0 {
				rin = in
			}
			b.resnets = append(b.resnets, resnetArch{rin, out})
		}
		a.down = append(a.down, b)
	}
	if c.MidBlockType != nil {
		if *c.MidBlockType != midCross {
			return nil, fmt.Errorf("unet: config: mid_block_type %q is not supported (want %s or null)", *c.MidBlockType, midCross)
		}
		last := ch[n-1]
		a.mid = &blockArch{name: "mid_block", cross: true, heads: heads[n-1], depth: depth[n-1], crossDim: cross[n-1], channels: last,
			resnets: []resnetArch{{last, last}, {last, last}}}
	}
	out = ch[n-1]
	for i, typ := range c.UpBlockTypes {
		r := n - 1 - i // the matching down block
		prev := out
		out = ch[r]
		in := ch[max(r-1, 0)]
		b := blockArch{name: fmt.Sprintf("up_blocks.%d", i), heads: heads[r], depth: depth[r], crossDim: cross[r], channels: out, upsample: i < n-1}
		switch typ {
		case upCross:
			b.cross = true
		case upPlain:
		default:
			return nil, fmt.Errorf("unet: config: up_block_types[%d] = %q is not supported (want %s or %s)", i, typ, upPlain, upCross)
		}
		nl := layers[r] + 1
		for j := 0; j < nl; j++ {
			skip := out
			if j == nl-1 {
				skip = in
			}
			rin := out
			if j == 0 {
				rin = prev
			}
			b.resnets = append(b.resnets, resnetArch{rin + skip, out})
		}
		if b.upsample {
			a.numUpsamplers++
		}
		a.up = append(a.up, b)
	}
	return a, nil
}

// unsupported rejects config features the port does not implement, naming the field.
func unsupported(c *diffusers.UNetConfig) error {
	bad := func(field string, v any) error {
		return fmt.Errorf("unet: config: %s = %v is not supported", field, v)
	}
	switch {
	case c.CenterInputSample:
		return bad("center_input_sample", true)
	case c.ClassEmbedType != nil:
		return bad("class_embed_type", *c.ClassEmbedType)
	case c.NumClassEmbeds != nil:
		return bad("num_class_embeds", *c.NumClassEmbeds)
	case c.AdditionEmbedType != nil && *c.AdditionEmbedType != "text_time":
		return bad("addition_embed_type", *c.AdditionEmbedType)
	case c.EncoderHidDim != nil:
		return bad("encoder_hid_dim", *c.EncoderHidDim)
	case c.TimeCondProjDim != nil:
		return bad("time_cond_proj_dim", *c.TimeCondProjDim)
	case c.TimeEmbeddingActFn != nil:
		return bad("time_embedding_act_fn", *c.TimeEmbeddingActFn)
	case c.TimestepPostAct != nil:
		return bad("timestep_post_act", *c.TimestepPostAct)
	case c.TimeEmbeddingType != "positional":
		return bad("time_embedding_type", c.TimeEmbeddingType)
	case c.ResnetTimeScaleShift != "default":
		return bad("resnet_time_scale_shift", c.ResnetTimeScaleShift)
	case c.ResnetSkipTimeAct:
		return bad("resnet_skip_time_act", true)
	case c.DualCrossAttention:
		return bad("dual_cross_attention", true)
	case c.AttentionType != "default" && c.AttentionType != "":
		return bad("attention_type", c.AttentionType)
	case c.ActFn != "silu":
		return bad("act_fn", c.ActFn)
	case c.CrossAttentionNorm != nil:
		return bad("cross_attention_norm", *c.CrossAttentionNorm)
	case c.ClassEmbeddingsConcat:
		return bad("class_embeddings_concat", true)
	case c.Dropout != 0:
		return bad("dropout", c.Dropout)
	}
	for i, v := range c.OnlyCrossAttention {
		if v {
			return bad(fmt.Sprintf("only_cross_attention[%d]", i), true)
		}
	}
	if c.MidBlockOnlyCrossAttention != nil && *c.MidBlockOnlyCrossAttention {
		return bad("mid_block_only_cross_attention", true)
	}
	return nil
}
