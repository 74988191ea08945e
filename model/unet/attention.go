package unet

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/nn"
)

// attention is diffusers' Attention with the default processor: to_q/to_k/to_v without
// bias, to_out.0 with bias, heads of width channels/heads, scale head_dim^-0.5, no mask.
type attention struct {
	name            string
	cross           bool
	heads, channels int
	q, k, v, out    *nn.Linear
	scale           float64
}

func newAttention(r *registry, name string, channels, contextDim, heads int, cross bool) *attention {
	if !cross {
		contextDim = channels
	}
	return &attention{
		name: name, cross: cross, heads: heads, channels: channels,
		q:     r.linear(nn.Join(name, "to_q"), channels, channels, false),
		k:     r.linear(nn.Join(name, "to_k"), contextDim, channels, false),
		v:     r.linear(nn.Join(name, "to_v"), contextDim, channels, false),
		out:   r.linear(nn.Join(name, "to_out.0"), channels, channels, true),
		scale: 1 / math.Sqrt(float64(channels/heads)),
	}
}

// forward attends from x [B, H·W, C] to ctx (nil for self-attention).
func (a *attention) forward(b *nn.Builder, x, ctx *G.Node, h, w int, hooks Hooks) (*G.Node, error) {
	o, err := a.run(b, x, ctx, h, w, hooks)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.name, err)
	}
	return o, nil
}

func (a *attention) run(b *nn.Builder, x, ctx *G.Node, h, w int, hooks Hooks) (*G.Node, error) {
	site := Site{Module: a.name, Cross: a.cross, Heads: a.heads, Channels: a.channels, Height: h, Width: w, KeyWeight: a.k.Weight, ValueWeight: a.v.Weight}
	src := x
	if a.cross {
		site.Context, src = ctx, ctx
	}
	q, err := a.q.Forward(b, x)
	if err != nil {
		return nil, err
	}
	k, err := a.k.Forward(b, src)
	if err != nil {
		return nil, err
	}
	v, err := a.v.Forward(b, src)
	if err != nil {
		return nil, err
	}
	if hooks.KV != nil {
		if k, v, err = hooks.KV(b, site, k, v); err != nil {
			return nil, fmt.Errorf("key/value hook: %w", err)
		}
	}
	if qb, kb := q.Shape()[0], k.Shape()[0]; qb != kb {
		return nil, fmt.Errorf("the sample has %d rows but the keys have %d: a context with more rows than the sample needs a KV hook that selects them", qb, kb)
	}
	var o *G.Node
	if hooks.unfused(site) {
		o, err = a.unfused(b, site, q, k, v, hooks)
	} else {
		o, err = b.Attention(q, k, v, a.heads, a.scale, false)
	}
	if err != nil {
		return nil, err
	}
	return a.out.Forward(b, o)
}

func (a *attention) unfused(b *nn.Builder, site Site, q, k, v *G.Node, hooks Hooks) (*G.Node, error) {
	s, err := b.AttentionScores(q, k, a.heads, a.scale)
	if err != nil {
		return nil, err
	}
	if hooks.Scores != nil {
		if s, err = hooks.Scores(b, site, s); err != nil {
			return nil, fmt.Errorf("score hook: %w", err)
		}
	}
	p, err := b.Softmax(s, false)
	if err != nil {
		return nil, err
	}
	if hooks.Probs != nil {
		if p, err = hooks.Probs(b, site, p); err != nil {
			return nil, fmt.Errorf("probability hook: %w", err)
		}
	}
	return b.AttentionApply(p, v)
}
