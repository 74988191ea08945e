package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
)

// AttentionNames are the child names of an attention module's four projections.
type AttentionNames struct{ Q, K, V, Out string }

var (
	// DiffusersAttentionNames is diffusers' Attention layout (UNet attn1/attn2, VAE mid
	// attention): to_q, to_k, to_v, to_out.0.
	DiffusersAttentionNames = AttentionNames{Q: "to_q", K: "to_k", V: "to_v", Out: "to_out.0"}
	// CLIPAttentionNames is transformers' CLIPAttention layout.
	CLIPAttentionNames = AttentionNames{Q: "q_proj", K: "k_proj", V: "v_proj", Out: "out_proj"}
)

// AttentionConfig sizes an attention module. ContextDim 0 means self-attention
// (keys and values from the query input's width).
type AttentionConfig struct {
	QueryDim   int
	ContextDim int
	Heads      int
	HeadDim    int
	QKVBias    bool
	OutBias    bool
	Names      AttentionNames
}

// Attention is multi-head attention with q/k/v/out projections. Its parameters live
// under Name + "." + the configured child names, so the UNet's cross-attention keys are
// e.g. "….attn2.to_k.weight" [heads·headDim, contextDim].
type Attention struct {
	Name          string
	Heads         int
	Q, K, V, Out  *Linear
	Scale         float64
	headDim, qDim int
}

// NewAttention registers an attention module's parameters under name.
func NewAttention(ps *Params, name string, cfg AttentionConfig) *Attention {
	ctx := cfg.ContextDim
	if ctx == 0 {
		ctx = cfg.QueryDim
	}
	names := cfg.Names
	if names == (AttentionNames{}) {
		names = DiffusersAttentionNames
	}
	inner := cfg.Heads * cfg.HeadDim
	if (cfg.Heads <= 0 || cfg.HeadDim <= 0) && ps.err == nil {
		ps.err = fmt.Errorf("nn: attention %q: heads %d and head dim %d must be positive", name, cfg.Heads, cfg.HeadDim)
	}
	return &Attention{
		Name:    name,
		Heads:   cfg.Heads,
		Q:       NewLinear(ps, Join(name, names.Q), cfg.QueryDim, inner, cfg.QKVBias),
		K:       NewLinear(ps, Join(name, names.K), ctx, inner, cfg.QKVBias),
		V:       NewLinear(ps, Join(name, names.V), ctx, inner, cfg.QKVBias),
		Out:     NewLinear(ps, Join(name, names.Out), inner, cfg.QueryDim, cfg.OutBias),
		Scale:   1 / math.Sqrt(float64(max(cfg.HeadDim, 1))),
		headDim: cfg.HeadDim,
		qDim:    cfg.QueryDim,
	}
}

// Forward attends from x [B, Lq, QueryDim] to ctx [B, Lk, ContextDim] (ctx nil: to x
// itself), optionally causally, and returns [B, Lq, QueryDim]. The builder's hooks see
// the projected keys/values and, when set, the scores and probabilities.
func (a *Attention) Forward(b *Builder, x, ctx *G.Node, causal bool) (*G.Node, error) {
	if ctx == nil {
		ctx = x
	}
	q, err := a.Q.Forward(b, x)
	if err != nil {
		return nil, err
	}
	k, err := a.K.Forward(b, ctx)
	if err != nil {
		return nil, err
	}
	v, err := a.V.Forward(b, ctx)
	if err != nil {
		return nil, err
	}
	h := b.Hooks()
	if h.KV != nil {
		if k, v, err = h.KV(b, a.Name, k, v); err != nil {
			return nil, fmt.Errorf("%s: key/value hook: %w", a.Name, err)
		}
	}
	var o *G.Node
	if h.Scores == nil && h.Probs == nil {
		o, err = b.Attention(q, k, v, a.Heads, a.Scale, causal)
	} else {
		o, err = a.unfused(b, q, k, v, causal)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.Name, err)
	}
	return a.Out.Forward(b, o)
}

func (a *Attention) unfused(b *Builder, q, k, v *G.Node, causal bool) (*G.Node, error) {
	h := b.Hooks()
	s, err := b.AttentionScores(q, k, a.Heads, a.Scale)
	if err != nil {
		return nil, err
	}
	if h.Scores != nil {
		if s, err = h.Scores(b, a.Name, s); err != nil {
			return nil, fmt.Errorf("score hook: %w", err)
		}
	}
	p, err := b.Softmax(s, causal)
	if err != nil {
		return nil, err
	}
	if h.Probs != nil {
		if p, err = h.Probs(b, a.Name, p); err != nil {
			return nil, fmt.Errorf("probability hook: %w", err)
		}
	}
	return b.AttentionApply(p, v)
}
