package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ChannelsLast turns x [B, C, S1, S2, …] into tokens [B, S1·S2·…, C] (Transformer2DModel's
// and the VAE attention's NCHW → sequence step), as a copy.
func (b *Builder) ChannelsLast(x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if len(s) < 3 {
		return nil, fmt.Errorf("nn: ChannelsLast of %v: need [B, C, spatial…]", s)
	}
	bs, c := s[0], s[1]
	sp := numel(s) / (bs * c)
	from := s.Clone()
	grad := func(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		dx, err := transposeLast2(dy, bs, sp, c, from, nil)
		return G.Nodes{dx}, err
	}
	return transposeLast2(x, bs, c, sp, tensor.Shape{bs, sp, c}, &opGrad{b.diffs(x), grad})
}

// ChannelsFirst is the inverse of ChannelsLast: x [B, S, C] becomes [B, C, spatial…]
// where spatial multiplies to S.
func (b *Builder) ChannelsFirst(x *G.Node, spatial ...int) (*G.Node, error) {
	s := x.Shape()
	if len(s) != 3 || numel(tensor.Shape(spatial)) != s[1] {
		return nil, fmt.Errorf("nn: ChannelsFirst of %v to spatial %v: need [B, S, C] with S = ∏ spatial", s, spatial)
	}
	bs, sp, c := s[0], s[1], s[2]
	to := append(tensor.Shape{bs, c}, spatial...)
	from := s.Clone()
	grad := func(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		dx, err := transposeLast2(dy, bs, c, sp, from, nil)
		return G.Nodes{dx}, err
	}
	return transposeLast2(x, bs, sp, c, to, &opGrad{b.diffs(x), grad})
}

type opGrad struct {
	diff []bool
	fn   func(in G.Nodes, out, dy *G.Node) (G.Nodes, error)
}

// transposeLast2 reads x as [bs, r, c] and writes [bs, c, r] with the given shape.
func transposeLast2(x *G.Node, bs, r, c int, out tensor.Shape, g *opGrad) (*G.Node, error) {
	k := kernel{transposeKernel[float32](bs, r, c), transposeKernel[float64](bs, r, c)}
	sig := fmt.Sprintf("Transpose(%d,%d,%d)", bs, r, c)
	if g == nil {
		return backwardOp(sig, k, out, x)
	}
	return apply(sig, k, out, g.diff, g.fn, x)
}

func transposeKernel[T float](bs, r, c int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x := in[0]
		for bi := 0; bi < bs; bi++ {
			src, dst := x[bi*r*c:(bi+1)*r*c], out[bi*r*c:(bi+1)*r*c]
			for i := 0; i < r; i++ {
				for j, v := range src[i*c : (i+1)*c] {
					dst[j*r+i] = v
				}
			}
		}
		return nil
	}
}

// Chunk returns chunk i of n equal chunks of x along its last axis, as a copy (GEGLU
// splits its projection into value and gate this way).
func (b *Builder) Chunk(x *G.Node, n, i int) (*G.Node, error) {
	s := x.Shape()
	d := s[len(s)-1]
	if n <= 0 || i < 0 || i >= n || d%n != 0 {
		return nil, fmt.Errorf("nn: Chunk %d of %d of %v: the last axis must split evenly", i, n, s)
	}
	w := d / n
	rows := numel(s) / d
	out := s.Clone()
	out[len(out)-1] = w
	full := s.Clone()
	grad := func(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		k := kernel{unchunkKernel[float32](rows, d, w, i), unchunkKernel[float64](rows, d, w, i)}
		dx, err := backwardOp(fmt.Sprintf("Unchunk(%d,%d)", n, i), k, full, dy)
		return G.Nodes{dx}, err
	}
	k := kernel{chunkKernel[float32](rows, d, w, i), chunkKernel[float64](rows, d, w, i)}
	return apply(fmt.Sprintf("Chunk(%d,%d)", n, i), k, out, b.diffs(x), grad, x)
}

func chunkKernel[T float](rows, d, w, i int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		for r := 0; r < rows; r++ {
			copy(out[r*w:(r+1)*w], in[0][r*d+i*w:r*d+(i+1)*w])
		}
		return nil
	}
}

func unchunkKernel[T float](rows, d, w, i int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		for r := 0; r < rows; r++ {
			copy(out[r*d+i*w:r*d+(i+1)*w], in[0][r*w:(r+1)*w])
		}
		return nil
	}
}
