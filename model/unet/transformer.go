package unet

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/nn"
)

// transformer2D is diffusers' Transformer2DModel for continuous inputs: GroupNorm
// (eps 1e-6), proj_in (Linear, or 1×1 conv without use_linear_projection), the
// transformer blocks over the H·W tokens, proj_out, plus the input as residual.
type transformer2D struct {
	name            string
	norm            *nn.GroupNorm
	linear          bool
	projInL, projOL *nn.Linear
	projInC, projOC *nn.Conv2d
	blocks          []*basicBlock
}

func newTransformer2D(r *registry, name string, channels, heads, depth, crossDim int, a *arch) *transformer2D {
	t := &transformer2D{name: name, norm: r.groupNorm(nn.Join(name, "norm"), a.groups, channels, 1e-6), linear: a.linearProj}
	if t.linear {
		t.projInL = r.linear(nn.Join(name, "proj_in"), channels, channels, true)
	} else {
		t.projInC = r.conv(nn.Join(name, "proj_in"), channels, channels, 1, nn.Conv2dOptions{})
	}
	for i := 0; i < depth; i++ {
		t.blocks = append(t.blocks, newBasicBlock(r, nn.Join(name, fmt.Sprintf("transformer_blocks.%d", i)), channels, heads, crossDim))
	}
	if t.linear {
		t.projOL = r.linear(nn.Join(name, "proj_out"), channels, channels, true)
	} else {
		t.projOC = r.conv(nn.Join(name, "proj_out"), channels, channels, 1, nn.Conv2dOptions{})
	}
	return t
}

func (t *transformer2D) forward(b *nn.Builder, x, ctx *G.Node, hooks Hooks) (*G.Node, error) {
	y, err := t.run(b, x, ctx, hooks)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	return y, nil
}

func (t *transformer2D) run(b *nn.Builder, x, ctx *G.Node, hooks Hooks) (*G.Node, error) {
	s := x.Shape()
	hh, ww := s[2], s[3]
	h, err := t.norm.Forward(b, x)
	if err != nil {
		return nil, err
	}
	if t.linear {
		if h, err = b.ChannelsLast(h); err == nil {
			h, err = t.projInL.Forward(b, h)
		}
	} else {
		if h, err = t.projInC.Forward(b, h); err == nil {
			h, err = b.ChannelsLast(h)
		}
	}
	if err != nil {
		return nil, err
	}
	for _, blk := range t.blocks {
		if h, err = blk.forward(b, h, ctx, hh, ww, hooks); err != nil {
			return nil, err
		}
	}
	if t.linear {
		if h, err = t.projOL.Forward(b, h); err == nil {
			h, err = b.ChannelsFirst(h, hh, ww)
		}
	} else {
		if h, err = b.ChannelsFirst(h, hh, ww); err == nil {
			h, err = t.projOC.Forward(b, h)
		}
	}
	if err != nil {
		return nil, err
	}
	return G.Add(h, x)
}

// basicBlock is diffusers' BasicTransformerBlock (layer_norm type): pre-LN
// self-attention, cross-attention and GEGLU feed-forward, each with a residual.
type basicBlock struct {
	name                string
	norm1, norm2, norm3 *nn.LayerNorm
	attn1, attn2        *attention
	ffIn, ffOut         *nn.Linear
}

func newBasicBlock(r *registry, name string, channels, heads, crossDim int) *basicBlock {
	return &basicBlock{
		name:  name,
		norm1: r.layerNorm(nn.Join(name, "norm1"), channels, 1e-5),
		attn1: newAttention(r, nn.Join(name, "attn1"), channels, 0, heads, false),
		norm2: r.layerNorm(nn.Join(name, "norm2"), channels, 1e-5),
		attn2: newAttention(r, nn.Join(name, "attn2"), channels, crossDim, heads, true),
		norm3: r.layerNorm(nn.Join(name, "norm3"), channels, 1e-5),
		ffIn:  r.linear(nn.Join(name, "ff.net.0.proj"), channels, 8*channels, true),
		ffOut: r.linear(nn.Join(name, "ff.net.2"), 4*channels, channels, true),
	}
}

func (blk *basicBlock) forward(b *nn.Builder, x, ctx *G.Node, h, w int, hooks Hooks) (*G.Node, error) {
	n, err := blk.norm1.Forward(b, x)
	if err != nil {
		return nil, err
	}
	a, err := blk.attn1.forward(b, n, nil, h, w, hooks)
	if err != nil {
		return nil, err
	}
	if x, err = G.Add(x, a); err != nil {
		return nil, err
	}
	if n, err = blk.norm2.Forward(b, x); err != nil {
		return nil, err
	}
	if a, err = blk.attn2.forward(b, n, ctx, h, w, hooks); err != nil {
		return nil, err
	}
	if x, err = G.Add(x, a); err != nil {
		return nil, err
	}
	if n, err = blk.norm3.Forward(b, x); err != nil {
		return nil, err
	}
	f, err := blk.feedForward(b, n)
	if err != nil {
		return nil, fmt.Errorf("%s.ff: %w", blk.name, err)
	}
	return G.Add(x, f)
}

// feedForward is GEGLU: [a | g] = net.0.proj(x); net.2(a ⊙ GELU_erf(g)).
func (blk *basicBlock) feedForward(b *nn.Builder, x *G.Node) (*G.Node, error) {
	p, err := blk.ffIn.Forward(b, x)
	if err != nil {
		return nil, err
	}
	val, err := b.Chunk(p, 2, 0)
	if err != nil {
		return nil, err
	}
	gate, err := b.Chunk(p, 2, 1)
	if err != nil {
		return nil, err
	}
	if gate, err = b.GELU(gate); err != nil {
		return nil, err
	}
	y, err := G.HadamardProd(val, gate)
	if err != nil {
		return nil, err
	}
	return blk.ffOut.Forward(b, y)
}
