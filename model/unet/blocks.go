package unet

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/nn"
)

// block is a down block (DownBlock2D / CrossAttnDownBlock2D), the mid block
// (UNetMidBlock2DCrossAttn) or an up block (UpBlock2D / CrossAttnUpBlock2D).
type block struct {
	arch    blockArch
	resnets []*resnetBlock
	attns   []*transformer2D // one per resnet in down/up blocks; one in the mid block
	down    *downsample
	up      *upsample
}

func newBlock(r *registry, ba blockArch, a *arch) *block {
	blk := &block{arch: ba}
	scale := a.resnetScale
	if ba.name == "mid_block" {
		scale = a.midScale
	}
	for j, ra := range ba.resnets {
		blk.resnets = append(blk.resnets, newResnet(r, fmt.Sprintf("%s.resnets.%d", ba.name, j), ra, a, scale))
		// diffusers registers resnets and attentions as two lists; the order of
		// registration does not matter for the keys, only the names.
		if ba.cross && (ba.name != "mid_block" || j == 0) {
			blk.attns = append(blk.attns, newTransformer2D(r, fmt.Sprintf("%s.attentions.%d", ba.name, j), ba.channels, ba.heads, ba.depth, ba.crossDim, a))
		}
	}
	if ba.downsample {
		blk.down = newDownsample(r, ba.name, ba.channels, a.downPadding)
	}
	if ba.upsample {
		blk.up = newUpsample(r, ba.name, ba.channels)
	}
	return blk
}

// graphState is what the block forwards share while one graph is built.
type graphState struct {
	b       *nn.Builder
	embAct  *G.Node // SiLU(emb)
	ctx     *G.Node
	hooks   Hooks
	capture bool
}

func (g *graphState) keep(name string, n *G.Node) {
	if g.capture {
		g.b.Output("act."+name, n)
	}
}

// forwardDown runs a down block and returns its output and the skip tensors it adds
// (after each resnet/attention pair and after the downsampler).
func (blk *block) forwardDown(g *graphState, x *G.Node) (*G.Node, []*G.Node, error) {
	var skips []*G.Node
	var err error
	for j, rb := range blk.resnets {
		if x, err = rb.forward(g.b, x, g.embAct); err != nil {
			return nil, nil, err
		}
		if blk.arch.cross {
			if x, err = blk.attns[j].forward(g.b, x, g.ctx, g.hooks); err != nil {
				return nil, nil, err
			}
		}
		skips = append(skips, x)
	}
	if blk.down != nil {
		if x, err = blk.down.forward(g.b, x); err != nil {
			return nil, nil, err
		}
		skips = append(skips, x)
	}
	for j, s := range skips {
		g.keep(fmt.Sprintf("%s.res_%d", blk.arch.name, j), s)
	}
	g.keep(blk.arch.name, x)
	return x, skips, nil
}

// forwardMid runs resnet 0, the attention (if any) and resnet 1.
func (blk *block) forwardMid(g *graphState, x *G.Node) (*G.Node, error) {
	x, err := blk.resnets[0].forward(g.b, x, g.embAct)
	if err != nil {
		return nil, err
	}
	if len(blk.attns) > 0 {
		if x, err = blk.attns[0].forward(g.b, x, g.ctx, g.hooks); err != nil {
			return nil, err
		}
	}
	if x, err = blk.resnets[1].forward(g.b, x, g.embAct); err != nil {
		return nil, err
	}
	g.keep(blk.arch.name, x)
	return x, nil
}

// forwardUp runs an up block, consuming skips from the end of the stack (hidden
// states first, skip second in the channel concatenation), and returns the rest.
func (blk *block) forwardUp(g *graphState, x *G.Node, skips []*G.Node) (*G.Node, []*G.Node, error) {
	var err error
	for j, rb := range blk.resnets {
		if len(skips) == 0 {
			return nil, nil, fmt.Errorf("%s: the skip stack is empty", blk.arch.name)
		}
		s := skips[len(skips)-1]
		skips = skips[:len(skips)-1]
		if x, err = G.Concat(1, x, s); err != nil {
			return nil, nil, fmt.Errorf("%s.resnets.%d: concatenating the skip: %w", blk.arch.name, j, err)
		}
		if x, err = rb.forward(g.b, x, g.embAct); err != nil {
			return nil, nil, err
		}
		if blk.arch.cross {
			if x, err = blk.attns[j].forward(g.b, x, g.ctx, g.hooks); err != nil {
				return nil, nil, err
			}
		}
	}
	if blk.up != nil {
		if x, err = blk.up.forward(g.b, x); err != nil {
			return nil, nil, err
		}
	}
	g.keep(blk.arch.name, x)
	return x, skips, nil
}
