package vae

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/nn"
)

// upBlock is UpDecoderBlock2D: layers_per_block+1 resnets, then (except in the last
// block) nearest-neighbour ×2 upsampling and a 3×3 convolution.
type upBlock struct {
	resnets []*resnetBlock
	up      *nn.Conv2d // nil in the last block
}

// Decoder is AutoencoderKL's decoder: conv_in from latent_channels, the mid block, the
// up blocks (channels in reverse order) and the output head (GroupNorm, activation,
// conv_out to out_channels).
type Decoder struct {
	act     string
	convIn  *nn.Conv2d
	mid     *midBlock
	blocks  []*upBlock
	normOut *nn.GroupNorm
	convOut *nn.Conv2d
}

func newDecoder(ps *nn.Params, s *structure) *Decoder {
	const name = "decoder"
	ch := s.channels
	last := ch[len(ch)-1]
	d := &Decoder{
		act:    s.act,
		convIn: nn.NewConv2d(ps, nn.Join(name, "conv_in"), s.latentChannels, last, 3, nn.Conv2dOptions{Pad: 1}, true),
		mid:    newMidBlock(ps, nn.Join(name, "mid_block"), last, s.groups, s.act, s.midAttention),
	}
	in := last
	for i := range ch {
		out := ch[len(ch)-1-i]
		bn := nn.Join(name, fmt.Sprintf("up_blocks.%d", i))
		blk := &upBlock{}
		for j := 0; j < s.layers+1; j++ {
			blk.resnets = append(blk.resnets, newResnetBlock(ps, nn.Join(bn, fmt.Sprintf("resnets.%d", j)), in, out, s.groups, s.act))
			in = out
		}
		if i < len(ch)-1 {
			blk.up = nn.NewConv2d(ps, nn.Join(bn, "upsamplers.0.conv"), out, out, 3, nn.Conv2dOptions{Pad: 1}, true)
		}
		d.blocks = append(d.blocks, blk)
	}
	d.normOut = nn.NewGroupNorm(ps, nn.Join(name, "conv_norm_out"), s.groups, ch[0], normEps)
	d.convOut = nn.NewConv2d(ps, nn.Join(name, "conv_out"), ch[0], s.outChannels, 3, nn.Conv2dOptions{Pad: 1}, true)
	return d
}

// Forward maps z [B, latent_channels, h, w] (after post_quant_conv) to images
// [B, out_channels, h·f, w·f].
func (d *Decoder) Forward(b *nn.Builder, z *G.Node) (*G.Node, error) {
	h, err := d.convIn.Forward(b, z)
	if err != nil {
		return nil, fmt.Errorf("decoder.conv_in: %w", err)
	}
	if h, err = d.mid.forward(b, h); err != nil {
		return nil, err
	}
	for i, blk := range d.blocks {
		for _, r := range blk.resnets {
			if h, err = r.forward(b, h); err != nil {
				return nil, err
			}
		}
		if blk.up != nil {
			if h, err = b.Upsample2x(h); err != nil {
				return nil, fmt.Errorf("decoder.up_blocks.%d.upsamplers.0: %w", i, err)
			}
			if h, err = blk.up.Forward(b, h); err != nil {
				return nil, fmt.Errorf("decoder.up_blocks.%d.upsamplers.0: %w", i, err)
			}
		}
	}
	if h, err = normAct(b, d.normOut, d.act, h); err != nil {
		return nil, fmt.Errorf("decoder.conv_norm_out: %w", err)
	}
	if h, err = d.convOut.Forward(b, h); err != nil {
		return nil, fmt.Errorf("decoder.conv_out: %w", err)
	}
	return h, nil
}
