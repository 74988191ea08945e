package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Upsample2x is nearest-neighbour ×2 upsampling of x [B, C, H, W] to [B, C, 2H, 2W].
func (b *Builder) Upsample2x(x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("nn: Upsample2x of %v: need [B, C, H, W]", s)
	}
	planes, h, w := s[0]*s[1], s[2], s[3]
	inShape := s.Clone()
	grad := func(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		k := kernel{downsum2x[float32](planes, h, w), downsum2x[float64](planes, h, w)}
		dx, err := backwardOp("Upsample2xGrad", k, inShape, dy)
		return G.Nodes{dx}, err
	}
	k := kernel{upsample2x[float32](planes, h, w), upsample2x[float64](planes, h, w)}
	return apply("Upsample2x", k, tensor.Shape{s[0], s[1], 2 * h, 2 * w}, b.diffs(x), grad, x)
}

func upsample2x[T float](planes, h, w int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x := in[0]
		parallelFor(planes, 4*h*w, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				for i := 0; i < h; i++ {
					src := x[(p*h+i)*w : (p*h+i+1)*w]
					row := out[(p*2*h+2*i)*2*w : (p*2*h+2*i+1)*2*w]
					for j, v := range src {
						row[2*j], row[2*j+1] = v, v
					}
					copy(out[(p*2*h+2*i+1)*2*w:(p*2*h+2*i+2)*2*w], row)
				}
			}
		})
		return nil
	}
}

func downsum2x[T float](planes, h, w int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		dy := in[0]
		for p := 0; p < planes; p++ {
			for i := 0; i < h; i++ {
				r0 := dy[(p*2*h+2*i)*2*w:]
				r1 := dy[(p*2*h+2*i+1)*2*w:]
				o := out[(p*h+i)*w : (p*h+i+1)*w]
				for j := range o {
					o[j] = r0[2*j] + r0[2*j+1] + r1[2*j] + r1[2*j+1]
				}
			}
		}
		return nil
	}
}

// AddChannels adds t to x [B, C, …] along the channel axis: t is [C] (a bias) or [B, C]
// (a per-sample vector such as a ResNet's projected time embedding).
func (b *Builder) AddChannels(x, t *G.Node) (*G.Node, error) {
	s, ts := x.Shape(), t.Shape()
	if len(s) < 2 || !(shapeIs(ts, s[1]) || shapeIs(ts, s[0], s[1])) {
		return nil, fmt.Errorf("nn: AddChannels of %v to %v: need [C] or [B, C] for x [B, C, …]", ts, s)
	}
	perSample := len(ts) == 2
	bs, c := s[0], s[1]
	sp := numel(s) / (bs * c)
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		gs := make(G.Nodes, 2)
		var err error
		if b.RequiresGrad(in[0]) {
			gs[0] = dy
		}
		if b.RequiresGrad(in[1]) {
			gs[1], err = channelSum(dy, perSample)
		}
		return gs, err
	}
	k := kernel{addChannels[float32](bs, c, sp, perSample), addChannels[float64](bs, c, sp, perSample)}
	return apply(fmt.Sprintf("AddChannels(%v)", perSample), k, s.Clone(), b.diffs(x, t), grad, x, t)
}

func addChannels[T float](bs, c, sp int, perSample bool) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x, t := in[0], in[1]
		for bi := 0; bi < bs; bi++ {
			for ci := 0; ci < c; ci++ {
				v := t[ci]
				if perSample {
					v = t[bi*c+ci]
				}
				o := (bi*c + ci) * sp
				for i := o; i < o+sp; i++ {
					out[i] = x[i] + v
				}
			}
		}
		return nil
	}
}
