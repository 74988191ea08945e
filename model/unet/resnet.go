package unet

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/nn"
)

// resnetBlock is diffusers' ResnetBlock2D with the additive ("default") time embedding:
// out = (shortcut(x) + conv2(SiLU(GN(conv1(SiLU(GN(x))) + proj(SiLU(emb)))))) / scale.
type resnetBlock struct {
	name         string
	norm1, norm2 *nn.GroupNorm
	conv1, conv2 *nn.Conv2d
	timeProj     *nn.Linear
	shortcut     *nn.Conv2d // nil when in == out
	scale        float64
}

func newResnet(r *registry, name string, ra resnetArch, a *arch, scale float64) *resnetBlock {
	pad := nn.Conv2dOptions{Pad: 1}
	rb := &resnetBlock{
		name:     name,
		norm1:    r.groupNorm(nn.Join(name, "norm1"), a.groups, ra.in, a.eps),
		conv1:    r.conv(nn.Join(name, "conv1"), ra.in, ra.out, 3, pad),
		timeProj: r.linear(nn.Join(name, "time_emb_proj"), a.timeDim, ra.out, true),
		norm2:    r.groupNorm(nn.Join(name, "norm2"), a.groups, ra.out, a.eps),
		conv2:    r.conv(nn.Join(name, "conv2"), ra.out, ra.out, 3, pad),
		scale:    scale,
	}
	if ra.in != ra.out {
		rb.shortcut = r.conv(nn.Join(name, "conv_shortcut"), ra.in, ra.out, 1, nn.Conv2dOptions{})
	}
	return rb
}

// forward takes x [B, in, H, W] and embAct = SiLU(emb) [B, timeDim] (shared by every
// resnet, so computed once).
func (rb *resnetBlock) forward(b *nn.Builder, x, embAct *G.Node) (*G.Node, error) {
	out, err := rb.run(b, x, embAct)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rb.name, err)
	}
	return out, nil
}

func (rb *resnetBlock) run(b *nn.Builder, x, embAct *G.Node) (*G.Node, error) {
	h, err := rb.norm1.Forward(b, x)
	if err != nil {
		return nil, err
	}
	if h, err = b.SiLU(h); err != nil {
		return nil, err
	}
	if h, err = rb.conv1.Forward(b, h); err != nil {
		return nil, err
	}
	t, err := rb.timeProj.Forward(b, embAct)
	if err != nil {
		return nil, err
	}
	if h, err = b.AddChannels(h, t); err != nil {
		return nil, err
	}
	if h, err = rb.norm2.Forward(b, h); err != nil {
		return nil, err
	}
	if h, err = b.SiLU(h); err != nil {
		return nil, err
	}
	if h, err = rb.conv2.Forward(b, h); err != nil {
		return nil, err
	}
	if rb.shortcut != nil {
		if x, err = rb.shortcut.Forward(b, x); err != nil {
			return nil, err
		}
	}
	out, err := G.Add(x, h)
	if err != nil {
		return nil, err
	}
	if rb.scale != 1 {
		return G.Mul(out, b.Scalar(1/rb.scale))
	}
	return out, nil
}

// downsample is Downsample2D with a convolution: 3×3, stride 2, padding
// downsample_padding (0 means diffusers' asymmetric right/bottom pad of 1).
type downsample struct{ conv *nn.Conv2d }

func newDownsample(r *registry, name string, ch, padding int) *downsample {
	opts := nn.Conv2dOptions{Stride: 2, Pad: padding}
	if padding == 0 {
		opts = nn.Conv2dOptions{Stride: 2, PadBottom: 1, PadRight: 1}
	}
	return &downsample{conv: r.conv(nn.Join(name, "downsamplers.0.conv"), ch, ch, 3, opts)}
}

func (d *downsample) forward(b *nn.Builder, x *G.Node) (*G.Node, error) {
	y, err := d.conv.Forward(b, x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.conv.Name, err)
	}
	return y, nil
}

// upsample is Upsample2D with a convolution: nearest ×2, then 3×3 pad 1.
type upsample struct{ conv *nn.Conv2d }

func newUpsample(r *registry, name string, ch int) *upsample {
	return &upsample{conv: r.conv(nn.Join(name, "upsamplers.0.conv"), ch, ch, 3, nn.Conv2dOptions{Pad: 1})}
}

func (u *upsample) forward(b *nn.Builder, x *G.Node) (*G.Node, error) {
	y, err := b.Upsample2x(x)
	if err == nil {
		y, err = u.conv.Forward(b, y)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u.conv.Name, err)
	}
	return y, nil
}
