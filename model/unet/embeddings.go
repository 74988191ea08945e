package unet

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/nn"
)

// Sinusoid is diffusers' get_timestep_embedding for each value of t: dim/2
// frequencies exp(-ln(10000)·k/(dim/2 − shift)), then [sin | cos] of t·freq (or
// [cos | sin] with flipSinToCos), zero-padded when dim is odd. Each step is rounded to
// float32 as torch does in float32, so arguments such as 981·freq match the reference
// to the last bit of the argument rather than drifting by 1e-5.
func Sinusoid(t []float64, dim int, flipSinToCos bool, shift int) []float32 {
	half := dim / 2
	freq := make([]float32, half)
	for k := range freq {
		e := float32(float32(-math.Log(10000)) * float32(k))
		e = float32(float64(e) / float64(half-shift))
		freq[k] = float32(math.Exp(float64(e)))
	}
	out := make([]float32, len(t)*dim)
	for i, tv := range t {
		row := out[i*dim : (i+1)*dim]
		for k, f := range freq {
			arg := float64(float32(float32(tv) * f))
			s, c := float32(math.Sin(arg)), float32(math.Cos(arg))
			if flipSinToCos {
				row[k], row[half+k] = c, s
			} else {
				row[k], row[half+k] = s, c
			}
		}
	}
	return out
}

// timestepEmbedding is diffusers' TimestepEmbedding: linear_1, SiLU, linear_2.
type timestepEmbedding struct {
	name   string
	l1, l2 *nn.Linear
}

func newTimestepEmbedding(r *registry, name string, in, dim int) *timestepEmbedding {
	return &timestepEmbedding{
		name: name,
		l1:   r.linear(nn.Join(name, "linear_1"), in, dim, true),
		l2:   r.linear(nn.Join(name, "linear_2"), dim, dim, true),
	}
}

func (e *timestepEmbedding) forward(b *nn.Builder, x *G.Node) (*G.Node, error) {
	h, err := e.l1.Forward(b, x)
	if err == nil {
		h, err = b.SiLU(h)
	}
	if err == nil {
		h, err = e.l2.Forward(b, h)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	return h, nil
}
