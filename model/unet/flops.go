package unet

import (
	"fmt"

	"github.com/latexblend/latexblend/model/diffusers"
)

// FLOPs counts one UNet evaluation's multiply-accumulates ×2, split as spec §9 does:
// convolutions (1×1 projections of conv-projection configs included), linear layers
// (attention projections, feed-forwards, embeddings), and the two attention matmuls
// (Q·Kᵀ and P·V) of self- and cross-attention. Norms, activations and softmax are not
// counted.
type FLOPs struct {
	Conv, Linear, SelfAttention, CrossAttention float64
}

// Total is the sum of all parts.
func (f FLOPs) Total() float64 { return f.Conv + f.Linear + f.SelfAttention + f.CrossAttention }

// CountFLOPs counts one evaluation of the UNet of cfg on a batch of latents of
// height×width with a context of the given number of tokens.
func CountFLOPs(cfg *diffusers.UNetConfig, batch, height, width, tokens int) (FLOPs, error) {
	a, err := planOf(cfg)
	if err != nil {
		return FLOPs{}, err
	}
	if batch <= 0 || height <= 0 || width <= 0 || tokens <= 0 {
		return FLOPs{}, fmt.Errorf("unet: CountFLOPs: batch %d, %dx%d latent, %d tokens must be positive", batch, height, width, tokens)
	}
	var f FLOPs
	b := float64(batch)
	conv := func(hw float64, in, out, k int) { f.Conv += 2 * b * hw * float64(in*out*k*k) }
	lin := func(rows float64, in, out int) { f.Linear += 2 * b * rows * float64(in*out) }
	f.Linear += 2 * b * float64(a.timeInDim*a.timeDim+a.timeDim*a.timeDim)
	if a.addTimeDim > 0 {
		f.Linear += 2 * b * float64(a.addInDim*a.timeDim+a.timeDim*a.timeDim)
	}
	resnet := func(hw float64, r resnetArch) {
		conv(hw, r.in, r.out, 3)
		conv(hw, r.out, r.out, 3)
		if r.in != r.out {
			conv(hw, r.in, r.out, 1)
		}
		lin(1, a.timeDim, r.out)
	}
	l := float64(tokens)
	transformer := func(hw float64, ba blockArch) {
		c := ba.channels
		if a.linearProj {
			lin(hw, c, c)
			lin(hw, c, c)
		} else {
			conv(hw, c, c, 1)
			conv(hw, c, c, 1)
		}
		for i := 0; i < ba.depth; i++ {
			lin(hw, c, 4*c) // attn1 q, k, v, out
			f.SelfAttention += 4 * b * hw * hw * float64(c)
			lin(hw, c, 2*c) // attn2 q, out
			lin(l, ba.crossDim, 2*c)
			f.CrossAttention += 4 * b * hw * l * float64(c)
			lin(hw, c, 12*c) // GEGLU: c→8c and 4c→c
		}
	}
	level := func(i int) float64 { return float64((height >> i) * (width >> i)) }
	conv(level(0), a.inCh, a.down[0].channels, a.convInK)
	n := len(a.down)
	for i, ba := range a.down {
		for _, r := range ba.resnets {
			resnet(level(i), r)
			if ba.cross {
				transformer(level(i), ba)
			}
		}
		if ba.downsample {
			conv(level(i+1), ba.channels, ba.channels, 3)
		}
	}
	if a.mid != nil {
		resnet(level(n-1), a.mid.resnets[0])
		transformer(level(n-1), *a.mid)
		resnet(level(n-1), a.mid.resnets[1])
	}
	for i, ba := range a.up {
		lv := n - 1 - i
		for _, r := range ba.resnets {
			resnet(level(lv), r)
			if ba.cross {
				transformer(level(lv), ba)
			}
		}
		if ba.upsample {
			conv(level(lv-1), ba.channels, ba.channels, 3)
		}
	}
	conv(level(0), a.down[0].channels, a.outCh, a.convOutK)
	return f, nil
}
