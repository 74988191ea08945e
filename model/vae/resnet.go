package vae

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/nn"
)

// normEps is the epsilon of every GroupNorm in AutoencoderKL (resnet_eps = 1e-6; the
// UNet uses 1e-5).
const normEps = 1e-6

// resnetBlock is diffusers' ResnetBlock2D without a time embedding:
// out = shortcut(x) + conv2(act(norm2(conv1(act(norm1(x)))))), where shortcut is a 1×1
// convolution when the channel count changes and the identity otherwise. Dropout is 0 and
// output_scale_factor 1 in every AutoencoderKL, so neither appears.
type resnetBlock struct {
	name         string
	act          string
	norm1, norm2 *nn.GroupNorm
	conv1, conv2 *nn.Conv2d
	shortcut     *nn.Conv2d // nil when in == out
}

func newResnetBlock(ps *nn.Params, name string, in, out, groups int, act string) *resnetBlock {
	same := nn.Conv2dOptions{Pad: 1}
	r := &resnetBlock{
		name:  name,
		act:   act,
		norm1: nn.NewGroupNorm(ps, nn.Join(name, "norm1"), groups, in, normEps),
		conv1: nn.NewConv2d(ps, nn.Join(name, "conv1"), in, out, 3, same, true),
		norm2: nn.NewGroupNorm(ps, nn.Join(name, "norm2"), groups, out, normEps),
		conv2: nn.NewConv2d(ps, nn.Join(name, "conv2"), out, out, 3, same, true),
	}
	if in != out {
		r.shortcut = nn.NewConv2d(ps, nn.Join(name, "conv_shortcut"), in, out, 1, nn.Conv2dOptions{}, true)
	}
	return r
}

func (r *resnetBlock) forward(b *nn.Builder, x *G.Node) (*G.Node, error) {
	h, err := normAct(b, r.norm1, r.act, x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.name, err)
	}
	if h, err = r.conv1.Forward(b, h); err != nil {
		return nil, fmt.Errorf("%s: %w", r.name, err)
	}
	if h, err = normAct(b, r.norm2, r.act, h); err != nil {
		return nil, fmt.Errorf("%s: %w", r.name, err)
	}
	if h, err = r.conv2.Forward(b, h); err != nil {
		return nil, fmt.Errorf("%s: %w", r.name, err)
	}
	skip := x
	if r.shortcut != nil {
		if skip, err = r.shortcut.Forward(b, x); err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
	}
	out, err := G.Add(skip, h)
	if err != nil {
		return nil, fmt.Errorf("%s: residual: %w", r.name, err)
	}
	return out, nil
}

// normAct is GroupNorm followed by the configured activation, the pre-activation step
// of every resnet and of the encoder's and decoder's output heads.
func normAct(b *nn.Builder, norm *nn.GroupNorm, act string, x *G.Node) (*G.Node, error) {
	h, err := norm.Forward(b, x)
	if err != nil {
		return nil, err
	}
	return b.Activation(act, h)
}
