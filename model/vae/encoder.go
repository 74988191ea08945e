package vae

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/nn"
)

// downBlock is DownEncoderBlock2D: resnets, then (except in the last block) a stride-2
// 3×3 convolution. diffusers builds it with downsample_padding 0 and pads the input by
// one row at the bottom and one column at the right instead, so an even H×W halves.
type downBlock struct {
	resnets []*resnetBlock
	down    *nn.Conv2d // nil in the last block
}

// Encoder is AutoencoderKL's encoder: conv_in, the down blocks, the mid block and the
// output head (GroupNorm, activation, conv_out to 2·latent_channels moments).
type Encoder struct {
	act     string
	convIn  *nn.Conv2d
	blocks  []*downBlock
	mid     *midBlock
	normOut *nn.GroupNorm
	convOut *nn.Conv2d
}

func newEncoder(ps *nn.Params, s *structure) *Encoder {
	const name = "encoder"
	ch := s.channels
	e := &Encoder{
		act:    s.act,
		convIn: nn.NewConv2d(ps, nn.Join(name, "conv_in"), s.inChannels, ch[0], 3, nn.Conv2dOptions{Pad: 1}, true),
	}
	in := ch[0]
	for i, out := range ch {
		bn := nn.Join(name, fmt.Sprintf("down_blocks.%d", i))
		blk := &downBlock{}
		for j := 0; j < s.layers; j++ {
			blk.resnets = append(blk.resnets, newResnetBlock(ps, nn.Join(bn, fmt.Sprintf("resnets.%d", j)), in, out, s.groups, s.act))
			in = out
		}
		if i < len(ch)-1 {
			blk.down = nn.NewConv2d(ps, nn.Join(bn, "downsamplers.0.conv"), out, out, 3,
				nn.Conv2dOptions{Stride: 2, PadBottom: 1, PadRight: 1}, true)
		}
		e.blocks = append(e.blocks, blk)
	}
	last := ch[len(ch)-1]
	e.mid = newMidBlock(ps, nn.Join(name, "mid_block"), last, s.groups, s.act, s.midAttention)
	e.normOut = nn.NewGroupNorm(ps, nn.Join(name, "conv_norm_out"), s.groups, last, normEps)
	e.convOut = nn.NewConv2d(ps, nn.Join(name, "conv_out"), last, 2*s.latentChannels, 3, nn.Conv2dOptions{Pad: 1}, true)
	return e
}

// Forward maps images x [B, in_channels, H, W] to the encoder's output
// [B, 2·latent_channels, H/f, W/f] (before quant_conv).
func (e *Encoder) Forward(b *nn.Builder, x *G.Node) (*G.Node, error) {
	h, err := e.convIn.Forward(b, x)
	if err != nil {
		return nil, fmt.Errorf("encoder.conv_in: %w", err)
	}
	for i, blk := range e.blocks {
		for _, r := range blk.resnets {
			if h, err = r.forward(b, h); err != nil {
				return nil, err
			}
		}
		if blk.down != nil {
			if h, err = blk.down.Forward(b, h); err != nil {
				return nil, fmt.Errorf("encoder.down_blocks.%d.downsamplers.0: %w", i, err)
			}
		}
	}
	if h, err = e.mid.forward(b, h); err != nil {
		return nil, err
	}
	if h, err = normAct(b, e.normOut, e.act, h); err != nil {
		return nil, fmt.Errorf("encoder.conv_norm_out: %w", err)
	}
	if h, err = e.convOut.Forward(b, h); err != nil {
		return nil, fmt.Errorf("encoder.conv_out: %w", err)
	}
	return h, nil
}
