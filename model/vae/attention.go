package vae

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/nn"
)

// midAttention is the self-attention of the VAE's mid blocks (diffusers' Attention with
// a group_norm, one head as wide as the channels, biased projections and a residual
// connection): x + to_out(attend(GroupNorm(x) as H·W tokens)).
type midAttention struct {
	name string
	norm *nn.GroupNorm
	attn *nn.Attention
}

func newMidAttention(ps *nn.Params, name string, channels, groups int) *midAttention {
	return &midAttention{
		name: name,
		norm: nn.NewGroupNorm(ps, nn.Join(name, "group_norm"), groups, channels, normEps),
		// UNetMidBlock2D passes attention_head_dim = channels, so heads = 1.
		attn: nn.NewAttention(ps, name, nn.AttentionConfig{
			QueryDim: channels,
			Heads:    1,
			HeadDim:  channels,
			QKVBias:  true,
			OutBias:  true,
			Names:    nn.DiffusersAttentionNames,
		}),
	}
}

func (a *midAttention) forward(b *nn.Builder, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	h, err := a.norm.Forward(b, x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.name, err)
	}
	if h, err = b.ChannelsLast(h); err != nil {
		return nil, fmt.Errorf("%s: %w", a.name, err)
	}
	if h, err = a.attn.Forward(b, h, nil, false); err != nil {
		return nil, err
	}
	if h, err = b.ChannelsFirst(h, s[2], s[3]); err != nil {
		return nil, fmt.Errorf("%s: %w", a.name, err)
	}
	out, err := G.Add(x, h)
	if err != nil {
		return nil, fmt.Errorf("%s: residual: %w", a.name, err)
	}
	return out, nil
}

// midBlock is UNetMidBlock2D without a time embedding: resnet, attention, resnet.
// Configs with mid_block_add_attention false (newer diffusers) have no attention.
type midBlock struct {
	first, second *resnetBlock
	attn          *midAttention // nil without attention
}

func newMidBlock(ps *nn.Params, name string, channels, groups int, act string, withAttention bool) *midBlock {
	m := &midBlock{first: newResnetBlock(ps, nn.Join(name, "resnets.0"), channels, channels, groups, act)}
	if withAttention {
		m.attn = newMidAttention(ps, nn.Join(name, "attentions.0"), channels, groups)
	}
	m.second = newResnetBlock(ps, nn.Join(name, "resnets.1"), channels, channels, groups, act)
	return m
}

func (m *midBlock) forward(b *nn.Builder, x *G.Node) (*G.Node, error) {
	h, err := m.first.forward(b, x)
	if err != nil {
		return nil, err
	}
	if m.attn != nil {
		if h, err = m.attn.forward(b, h); err != nil {
			return nil, err
		}
	}
	return m.second.forward(b, h)
}
