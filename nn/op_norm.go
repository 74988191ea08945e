package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GroupNorm normalises x [B, C, …] over each of `groups` groups of C/groups channels
// (biased variance, statistics accumulated in float64), then applies the per-channel
// affine gamma, beta [C]. gorgonia's built-in GroupNorm is wrong above 128 elements per
// group; this one is our own kernel.
func (b *Builder) GroupNorm(x, gamma, beta *G.Node, groups int, eps float64) (*G.Node, error) {
	s := x.Shape()
	if len(s) < 2 || groups <= 0 || s[1]%groups != 0 {
		return nil, fmt.Errorf("nn: GroupNorm of %v into %d groups: need [B, C, …] with C divisible by groups", s, groups)
	}
	c := s[1]
	if !shapeIs(gamma.Shape(), c) || !shapeIs(beta.Shape(), c) {
		return nil, fmt.Errorf("nn: GroupNorm: gamma %v and beta %v must be [%d]", gamma.Shape(), beta.Shape(), c)
	}
	bs, sp := s[0], numel(s)/(s[0]*c)
	shape := s.Clone()
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		gs := make(G.Nodes, 3)
		var err error
		if b.RequiresGrad(in[0]) {
			k := kernel{gnGradX[float32](bs, c, sp, groups, eps), gnGradX[float64](bs, c, sp, groups, eps)}
			if gs[0], err = backwardOp(fmt.Sprintf("GroupNormGradX(%d,%g)", groups, eps), k, shape, in[0], in[1], dy); err != nil {
				return nil, err
			}
		}
		if b.RequiresGrad(in[1]) {
			k := kernel{gnGradGamma[float32](bs, c, sp, groups, eps), gnGradGamma[float64](bs, c, sp, groups, eps)}
			if gs[1], err = backwardOp(fmt.Sprintf("GroupNormGradGamma(%d,%g)", groups, eps), k, tensor.Shape{c}, in[0], dy); err != nil {
				return nil, err
			}
		}
		if b.RequiresGrad(in[2]) {
			if gs[2], err = channelSum(dy, false); err != nil {
				return nil, err
			}
		}
		return gs, nil
	}
	k := kernel{gnForward[float32](bs, c, sp, groups, eps), gnForward[float64](bs, c, sp, groups, eps)}
	return apply(fmt.Sprintf("GroupNorm(%d,%g)", groups, eps), k, shape, b.diffs(x, gamma, beta), grad, x, gamma, beta)
}

// LayerNorm normalises x over its last axis (biased variance) and applies gamma, beta [D].
func (b *Builder) LayerNorm(x, gamma, beta *G.Node, eps float64) (*G.Node, error) {
	s := x.Shape()
	d := s[len(s)-1]
	if !shapeIs(gamma.Shape(), d) || !shapeIs(beta.Shape(), d) {
		return nil, fmt.Errorf("nn: LayerNorm of %v: gamma %v and beta %v must be [%d]", s, gamma.Shape(), beta.Shape(), d)
	}
	rows := numel(s) / d
	shape := s.Clone()
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		gs := make(G.Nodes, 3)
		var err error
		if b.RequiresGrad(in[0]) {
			k := kernel{lnGradX[float32](rows, d, eps), lnGradX[float64](rows, d, eps)}
			if gs[0], err = backwardOp(fmt.Sprintf("LayerNormGradX(%g)", eps), k, shape, in[0], in[1], dy); err != nil {
				return nil, err
			}
		}
		if b.RequiresGrad(in[1]) {
			k := kernel{lnGradGamma[float32](rows, d, eps), lnGradGamma[float64](rows, d, eps)}
			if gs[1], err = backwardOp(fmt.Sprintf("LayerNormGradGamma(%g)", eps), k, tensor.Shape{d}, in[0], dy); err != nil {
				return nil, err
			}
		}
		if b.RequiresGrad(in[2]) {
			if gs[2], err = rowSum(dy); err != nil {
				return nil, err
			}
		}
		return gs, nil
	}
	k := kernel{lnForward[float32](rows, d, eps), lnForward[float64](rows, d, eps)}
	return apply(fmt.Sprintf("LayerNorm(%g)", eps), k, shape, b.diffs(x, gamma, beta), grad, x, gamma, beta)
}

func shapeIs(s tensor.Shape, dims ...int) bool {
	if len(s) != len(dims) {
		return false
	}
	for i := range dims {
		if s[i] != dims[i] {
			return false
		}
	}
	return true
}

// moments returns the mean and 1/sqrt(var+eps) of v, accumulated in float64.
func moments[T float](v []T, eps float64) (mean, rstd float64) {
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	mean = sum / float64(len(v))
	var sq float64
	for _, x := range v {
		d := float64(x) - mean
		sq += d * d
	}
	return mean, 1 / math.Sqrt(sq/float64(len(v))+eps)
}

// GroupNorm over data laid out [B, C, S]: group g of sample b is the contiguous range of
// channels [g·C/G, (g+1)·C/G) times S.
func gnForward[T float](bs, c, sp, groups int, eps float64) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x, gamma, beta := in[0], in[1], in[2]
		cg := c / groups
		n := cg * sp
		parallelFor(bs*groups, 3*n, func(lo, hi int) {
			for idx := lo; idx < hi; idx++ {
				g := idx % groups
				off := idx * n
				mean, rstd := moments(x[off:off+n], eps)
				for ci := 0; ci < cg; ci++ {
					ch := g*cg + ci
					scale := rstd * float64(gamma[ch])
					shift := float64(beta[ch]) - mean*scale
					o := off + ci*sp
					for i := o; i < o+sp; i++ {
						out[i] = T(float64(x[i])*scale + shift)
					}
				}
			}
		})
		return nil
	}
}

// gnGradX: with x̂ = (x-μ)·r and g = dy·γ, dx = r·(g − mean(g) − x̂·mean(g·x̂)) per group.
func gnGradX[T float](bs, c, sp, groups int, eps float64) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x, gamma, dy := in[0], in[1], in[2]
		cg := c / groups
		n := cg * sp
		parallelFor(bs*groups, 5*n, func(lo, hi int) {
			for idx := lo; idx < hi; idx++ {
				g := idx % groups
				off := idx * n
				mean, rstd := moments(x[off:off+n], eps)
				var sg, sgx float64
				for ci := 0; ci < cg; ci++ {
					gm := float64(gamma[g*cg+ci])
					o := off + ci*sp
					for i := o; i < o+sp; i++ {
						gi := float64(dy[i]) * gm
						sg += gi
						sgx += gi * (float64(x[i]) - mean) * rstd
					}
				}
				mg, mgx := sg/float64(n), sgx/float64(n)
				for ci := 0; ci < cg; ci++ {
					gm := float64(gamma[g*cg+ci])
					o := off + ci*sp
					for i := o; i < o+sp; i++ {
						xh := (float64(x[i]) - mean) * rstd
						out[i] = T(rstd * (float64(dy[i])*gm - mg - xh*mgx))
					}
				}
			}
		})
		return nil
	}
}

func gnGradGamma[T float](bs, c, sp, groups int, eps float64) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x, dy := in[0], in[1]
		cg := c / groups
		n := cg * sp
		acc := make([]float64, c)
		for bi := 0; bi < bs; bi++ {
			for g := 0; g < groups; g++ {
				off := (bi*groups + g) * n
				mean, rstd := moments(x[off:off+n], eps)
				for ci := 0; ci < cg; ci++ {
					o := off + ci*sp
					var s float64
					for i := o; i < o+sp; i++ {
						s += float64(dy[i]) * (float64(x[i]) - mean) * rstd
					}
					acc[g*cg+ci] += s
				}
			}
		}
		for i, v := range acc {
			out[i] = T(v)
		}
		return nil
	}
}

func lnForward[T float](rows, d int, eps float64) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x, gamma, beta := in[0], in[1], in[2]
		parallelFor(rows, 3*d, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				xr := x[r*d : (r+1)*d]
				mean, rstd := moments(xr, eps)
				or := out[r*d : (r+1)*d]
				for i, v := range xr {
					or[i] = T((float64(v)-mean)*rstd*float64(gamma[i]) + float64(beta[i]))
				}
			}
		})
		return nil
	}
}

func lnGradX[T float](rows, d int, eps float64) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x, gamma, dy := in[0], in[1], in[2]
		parallelFor(rows, 5*d, func(lo, hi int) { lnGradXRange(x, gamma, dy, out, lo, hi, d, eps) })
		return nil
	}
}

func lnGradXRange[T float](x, gamma, dy, out []T, lo, hi, d int, eps float64) {
	for r := lo; r < hi; r++ {
		xr, dr, or := x[r*d:(r+1)*d], dy[r*d:(r+1)*d], out[r*d:(r+1)*d]
		mean, rstd := moments(xr, eps)
		var sg, sgx float64
		for i, v := range xr {
			gi := float64(dr[i]) * float64(gamma[i])
			sg += gi
			sgx += gi * (float64(v) - mean) * rstd
		}
		mg, mgx := sg/float64(d), sgx/float64(d)
		for i, v := range xr {
			xh := (float64(v) - mean) * rstd
			or[i] = T(rstd * (float64(dr[i])*float64(gamma[i]) - mg - xh*mgx))
		}
	}
}

func lnGradGamma[T float](rows, d int, eps float64) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x, dy := in[0], in[1]
		acc := make([]float64, d)
		for r := 0; r < rows; r++ {
			xr, dr := x[r*d:(r+1)*d], dy[r*d:(r+1)*d]
			mean, rstd := moments(xr, eps)
			for i, v := range xr {
				acc[i] += float64(dr[i]) * (float64(v) - mean) * rstd
			}
		}
		for i, v := range acc {
			out[i] = T(v)
		}
		return nil
	}
}

// channelSum sums dy [B, C, …] over everything but the channel axis ([C]) or, with
// perSample, over the spatial axes only ([B, C]).
func channelSum(dy *G.Node, perSample bool) (*G.Node, error) {
	s := dy.Shape()
	bs, c := s[0], s[1]
	sp := numel(s) / (bs * c)
	out := tensor.Shape{c}
	if perSample {
		out = tensor.Shape{bs, c}
	}
	k := kernel{channelSumKernel[float32](bs, c, sp, perSample), channelSumKernel[float64](bs, c, sp, perSample)}
	return backwardOp(fmt.Sprintf("ChannelSum(%v)", perSample), k, out, dy)
}

func channelSumKernel[T float](bs, c, sp int, perSample bool) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		acc := make([]float64, len(out))
		for bi := 0; bi < bs; bi++ {
			for ci := 0; ci < c; ci++ {
				var s float64
				for _, v := range in[0][(bi*c+ci)*sp : (bi*c+ci+1)*sp] {
					s += float64(v)
				}
				if perSample {
					acc[bi*c+ci] += s
				} else {
					acc[ci] += s
				}
			}
		}
		for i, v := range acc {
			out[i] = T(v)
		}
		return nil
	}
}

// rowSum sums dy [..., D] over every axis but the last, giving [D].
func rowSum(dy *G.Node) (*G.Node, error) {
	s := dy.Shape()
	d := s[len(s)-1]
	rows := numel(s) / d
	k := kernel{rowSumKernel[float32](rows, d), rowSumKernel[float64](rows, d)}
	return backwardOp("RowSum", k, tensor.Shape{d}, dy)
}

func rowSumKernel[T float](rows, d int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		acc := make([]float64, d)
		for r := 0; r < rows; r++ {
			for i, v := range in[0][r*d : (r+1)*d] {
				acc[i] += float64(v)
			}
		}
		for i, v := range acc {
			out[i] = T(v)
		}
		return nil
	}
}
