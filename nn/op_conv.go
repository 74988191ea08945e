package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Conv2dOptions are a convolution's stride and zero padding. Pad applies to all four
// sides; PadTop/PadLeft/PadBottom/PadRight, when any is non-zero, replace it (the VAE
// encoder's downsampler pads only bottom and right).
type Conv2dOptions struct {
	Stride                               int
	Pad                                  int
	PadTop, PadLeft, PadBottom, PadRight int
}

func (o Conv2dOptions) pads() (top, left, bottom, right int) {
	if o.PadTop != 0 || o.PadLeft != 0 || o.PadBottom != 0 || o.PadRight != 0 {
		return o.PadTop, o.PadLeft, o.PadBottom, o.PadRight
	}
	return o.Pad, o.Pad, o.Pad, o.Pad
}

// convGeom is the geometry of one convolution.
type convGeom struct {
	b, cin, h, w, cout, kh, kw, stride int
	pt, pl, pb, pr                     int
	ho, wo                             int
}

func (g convGeom) k() int     { return g.cin * g.kh * g.kw }
func (g convGeom) hwOut() int { return g.ho * g.wo }

// direct reports whether the column matrix of a sample is the sample itself (1×1,
// stride 1, no padding), so im2col can be skipped.
func (g convGeom) direct() bool {
	return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0
}

// Conv2d convolves x [B, Cin, H, W] with w [Cout, Cin, kh, kw] (PyTorch's layout) and adds
// bias [Cout] when it is not nil, giving [B, Cout, Ho, Wo]. It is im2col + one GEMM per
// sample on the active BLAS backend; a frozen weight costs no weight-gradient GEMM.
func (b *Builder) Conv2d(x, w, bias *G.Node, opts Conv2dOptions) (*G.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if opts.Stride == 0 {
		opts.Stride = 1
	}
	pt, pl, pb, pr := opts.pads()
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1] || opts.Stride < 0 || min(pt, pl, pb, pr) < 0 {
		return nil, fmt.Errorf("nn: Conv2d of %v with weight %v (stride %d, pads %d,%d,%d,%d): need x [B, Cin, H, W], w [Cout, Cin, kh, kw]", xs, ws, opts.Stride, pt, pl, pb, pr)
	}
	g := convGeom{b: xs[0], cin: xs[1], h: xs[2], w: xs[3], cout: ws[0], kh: ws[2], kw: ws[3], stride: opts.Stride, pt: pt, pl: pl, pb: pb, pr: pr}
	g.ho = (g.h+pt+pb-g.kh)/g.stride + 1
	g.wo = (g.w+pl+pr-g.kw)/g.stride + 1
	if g.h+pt+pb < g.kh || g.w+pl+pr < g.kw {
		return nil, fmt.Errorf("nn: Conv2d: kernel %dx%d is larger than the padded input %v", g.kh, g.kw, xs)
	}
	if bias != nil && !shapeIs(bias.Shape(), g.cout) {
		return nil, fmt.Errorf("nn: Conv2d: bias %v must be [%d]", bias.Shape(), g.cout)
	}
	ins := []*G.Node{x, w}
	if bias != nil {
		ins = append(ins, bias)
	}
	sig := fmt.Sprintf("Conv2d(s=%d,p=%d,%d,%d,%d,bias=%v)", g.stride, pt, pl, pb, pr, bias != nil)
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		gs := make(G.Nodes, len(in))
		var err error
		if b.RequiresGrad(in[0]) {
			k := kernel{convGradX[float32](g), convGradX[float64](g)}
			if gs[0], err = backwardOp(sig+"GradX", k, in[0].Shape(), in[1], dy); err != nil {
				return nil, err
			}
		}
		if b.RequiresGrad(in[1]) {
			k := kernel{convGradW[float32](g), convGradW[float64](g)}
			if gs[1], err = backwardOp(sig+"GradW", k, in[1].Shape(), in[0], dy); err != nil {
				return nil, err
			}
		}
		if len(in) == 3 && b.RequiresGrad(in[2]) {
			if gs[2], err = channelSum(dy, false); err != nil {
				return nil, err
			}
		}
		return gs, nil
	}
	k := kernel{convForward[float32](g), convForward[float64](g)}
	return apply(sig, k, tensor.Shape{g.b, g.cout, g.ho, g.wo}, b.diffs(ins...), grad, ins...)
}

// im2col writes the column matrix [Cin·kh·kw, Ho·Wo] of one sample x [Cin, H, W].
func im2col[T float](g convGeom, x, col []T) {
	parallelFor(g.cin, g.kh*g.kw*g.hwOut(), func(lo, hi int) { im2colRange(g, x, col, lo, hi) })
}

func im2colRange[T float](g convGeom, x, col []T, lo, hi int) {
	n := g.hwOut()
	for ci := lo; ci < hi; ci++ {
		plane := x[ci*g.h*g.w : (ci+1)*g.h*g.w]
		for ki := 0; ki < g.kh; ki++ {
			for kj := 0; kj < g.kw; kj++ {
				row := col[((ci*g.kh+ki)*g.kw+kj)*n:][:n]
				for oy := 0; oy < g.ho; oy++ {
					iy := oy*g.stride - g.pt + ki
					dst := row[oy*g.wo : (oy+1)*g.wo]
					if iy < 0 || iy >= g.h {
						clear(dst)
						continue
					}
					src := plane[iy*g.w : (iy+1)*g.w]
					if g.stride == 1 { // one contiguous run between the padding
						lo, hi := strideOneSpan(g, kj)
						clear(dst[:lo])
						copy(dst[lo:hi], src[lo+kj-g.pl:])
						clear(dst[hi:])
						continue
					}
					for ox := range dst {
						ix := ox*g.stride - g.pl + kj
						if ix < 0 || ix >= g.w {
							dst[ox] = 0
						} else {
							dst[ox] = src[ix]
						}
					}
				}
			}
		}
	}
}

// strideOneSpan is the range [lo, hi) of output columns whose input column
// ox − pl + kj lies inside the image, for a stride-1 convolution's kernel column kj.
func strideOneSpan(g convGeom, kj int) (lo, hi int) {
	off := kj - g.pl
	lo = min(max(0, -off), g.wo)
	hi = max(lo, min(g.wo, g.w-off))
	return lo, hi
}

// col2im adds a column matrix back into one sample's gradient dx [Cin, H, W].
func col2im[T float](g convGeom, col, dx []T) {
	parallelFor(g.cin, g.kh*g.kw*g.hwOut(), func(lo, hi int) { col2imRange(g, col, dx, lo, hi) })
}

func col2imRange[T float](g convGeom, col, dx []T, lo, hi int) {
	n := g.hwOut()
	for ci := lo; ci < hi; ci++ {
		plane := dx[ci*g.h*g.w : (ci+1)*g.h*g.w]
		for ki := 0; ki < g.kh; ki++ {
			for kj := 0; kj < g.kw; kj++ {
				row := col[((ci*g.kh+ki)*g.kw+kj)*n:][:n]
				for oy := 0; oy < g.ho; oy++ {
					iy := oy*g.stride - g.pt + ki
					if iy < 0 || iy >= g.h {
						continue
					}
					dst := plane[iy*g.w : (iy+1)*g.w]
					if g.stride == 1 {
						lo, hi := strideOneSpan(g, kj)
						off := kj - g.pl
						d := dst[lo+off : hi+off]
						for i, v := range row[oy*g.wo+lo : oy*g.wo+hi] {
							d[i] += v
						}
						continue
					}
					for ox, v := range row[oy*g.wo : (oy+1)*g.wo] {
						if ix := ox*g.stride - g.pl + kj; ix >= 0 && ix < g.w {
							dst[ix] += v
						}
					}
				}
			}
		}
	}
}

func convForward[T float](g convGeom) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x, w := in[0], in[1]
		n, kk := g.hwOut(), g.k()
		var col []T
		if !g.direct() {
			col = make([]T, kk*n)
		}
		for bi := 0; bi < g.b; bi++ {
			xb := x[bi*g.cin*g.h*g.w : (bi+1)*g.cin*g.h*g.w]
			if g.direct() {
				col = xb
			} else {
				im2col(g, xb, col)
			}
			ob := out[bi*g.cout*n : (bi+1)*g.cout*n]
			gemm(false, false, g.cout, n, kk, 1, w, kk, col, n, 0, ob, n)
			if len(in) == 3 {
				for co, v := range in[2] {
					row := ob[co*n : (co+1)*n]
					for i := range row {
						row[i] += v
					}
				}
			}
		}
		return nil
	}
}

// inputs w, dy: dcol = Wᵀ·dY per sample, scattered back by col2im.
func convGradX[T float](g convGeom) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		w, dy := in[0], in[1]
		n, kk := g.hwOut(), g.k()
		var col []T
		if !g.direct() {
			col = make([]T, kk*n)
		}
		for bi := 0; bi < g.b; bi++ {
			dxb := out[bi*g.cin*g.h*g.w : (bi+1)*g.cin*g.h*g.w]
			if g.direct() {
				col = dxb
			}
			gemm(true, false, kk, n, g.cout, 1, w, kk, dy[bi*g.cout*n:], n, 0, col, n)
			if !g.direct() {
				col2im(g, col, dxb)
			}
		}
		return nil
	}
}

// inputs x, dy: dW = Σ_b dY_b·col_bᵀ.
func convGradW[T float](g convGeom) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x, dy := in[0], in[1]
		n, kk := g.hwOut(), g.k()
		var col []T
		if !g.direct() {
			col = make([]T, kk*n)
		}
		for bi := 0; bi < g.b; bi++ {
			xb := x[bi*g.cin*g.h*g.w : (bi+1)*g.cin*g.h*g.w]
			if g.direct() {
				col = xb
			} else {
				im2col(g, xb, col)
			}
			gemm(false, true, g.cout, kk, n, 1, dy[bi*g.cout*n:], n, col, n, 1, out, kk)
		}
		return nil
	}
}
