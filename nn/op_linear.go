package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Linear computes x·Wᵀ + b for x [..., in], w [out, in] (PyTorch's layout) and an optional
// bias [out] (nil for none), giving [..., out]. It is one fused op: no transpose, reshape
// or broadcast nodes, and a frozen weight costs no weight-gradient GEMM.
func (b *Builder) Linear(x, w, bias *G.Node) (*G.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if len(ws) != 2 || len(xs) < 1 || xs[len(xs)-1] != ws[1] {
		return nil, fmt.Errorf("nn: Linear: input %v does not match weight %v [out, in]", xs, ws)
	}
	out, in := ws[0], ws[1]
	if bias != nil && !shapeIs(bias.Shape(), out) {
		return nil, fmt.Errorf("nn: Linear: bias %v must be [%d]", bias.Shape(), out)
	}
	n := numel(xs) / in
	ys := xs.Clone()
	ys[len(ys)-1] = out
	xShape := xs.Clone()
	ins := []*G.Node{x, w}
	if bias != nil {
		ins = append(ins, bias)
	}
	grad := func(ins G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		gs := make(G.Nodes, len(ins))
		var err error
		if b.RequiresGrad(ins[0]) {
			k := kernel{linearGradX[float32](n, in, out), linearGradX[float64](n, in, out)}
			if gs[0], err = backwardOp("LinearGradX", k, xShape, ins[1], dy); err != nil {
				return nil, err
			}
		}
		if b.RequiresGrad(ins[1]) {
			k := kernel{linearGradW[float32](n, in, out), linearGradW[float64](n, in, out)}
			if gs[1], err = backwardOp("LinearGradW", k, tensor.Shape{out, in}, ins[0], dy); err != nil {
				return nil, err
			}
		}
		if len(ins) == 3 && b.RequiresGrad(ins[2]) {
			if gs[2], err = rowSum(dy); err != nil {
				return nil, err
			}
		}
		return gs, nil
	}
	k := kernel{linearForward[float32](n, in, out), linearForward[float64](n, in, out)}
	return apply(fmt.Sprintf("Linear(bias=%v)", bias != nil), k, ys, b.diffs(ins...), grad, ins...)
}

func linearForward[T float](n, in, out int) func(ins [][]T, y []T) error {
	return func(ins [][]T, y []T) error {
		gemm(false, true, n, out, in, 1, ins[0], in, ins[1], in, 0, y, out)
		if len(ins) == 3 {
			bias := ins[2]
			for r := 0; r < n; r++ {
				row := y[r*out : (r+1)*out]
				for j := range row {
					row[j] += bias[j]
				}
			}
		}
		return nil
	}
}

// dx [n, in] = dy [n, out] · W [out, in]
func linearGradX[T float](n, in, out int) func(ins [][]T, dx []T) error {
	return func(ins [][]T, dx []T) error {
		gemm(false, false, n, in, out, 1, ins[1], out, ins[0], in, 0, dx, in)
		return nil
	}
}

// dW [out, in] = dyᵀ [out, n] · x [n, in]
func linearGradW[T float](n, in, out int) func(ins [][]T, dw []T) error {
	return func(ins [][]T, dw []T) error {
		gemm(true, false, out, in, n, 1, ins[1], out, ins[0], in, 0, dw, in)
		return nil
	}
}

// MatMul multiplies a [m, k] by b [k, n]; it is Linear's GEMM without the weight layout,
// used by the GEMM benchmark.
func (b *Builder) MatMul(x, y *G.Node) (*G.Node, error) {
	xs, ys := x.Shape(), y.Shape()
	if len(xs) != 2 || len(ys) != 2 || xs[1] != ys[0] {
		return nil, fmt.Errorf("nn: MatMul of %v and %v: need [m, k]·[k, n]", xs, ys)
	}
	m, k, n := xs[0], xs[1], ys[1]
	grad := func(ins G.Nodes, _, dz *G.Node) (G.Nodes, error) {
		gs := make(G.Nodes, 2)
		var err error
		if b.RequiresGrad(ins[0]) { // dx = dz · yᵀ
			kk := kernel{matmulKernel[float32](m, k, n, false, true), matmulKernel[float64](m, k, n, false, true)}
			if gs[0], err = backwardOp("MatMulGradA", kk, tensor.Shape{m, k}, dz, ins[1]); err != nil {
				return nil, err
			}
		}
		if b.RequiresGrad(ins[1]) { // dy = xᵀ · dz
			kk := kernel{matmulKernel[float32](k, n, m, true, false), matmulKernel[float64](k, n, m, true, false)}
			if gs[1], err = backwardOp("MatMulGradB", kk, tensor.Shape{k, n}, ins[0], dz); err != nil {
				return nil, err
			}
		}
		return gs, nil
	}
	kk := kernel{matmulKernel[float32](m, n, k, false, false), matmulKernel[float64](m, n, k, false, false)}
	return apply("MatMul", kk, tensor.Shape{m, n}, b.diffs(x, y), grad, x, y)
}

// matmulKernel computes out [m, n] = op(a)·op(b) with inner dimension k, where a is
// stored [m, k] (or [k, m] when ta) and b [k, n] (or [n, k] when tb).
func matmulKernel[T float](m, n, k int, ta, tb bool) func(ins [][]T, out []T) error {
	return func(ins [][]T, out []T) error {
		lda, ldb := k, n
		if ta {
			lda = m
		}
		if tb {
			ldb = k
		}
		gemm(ta, tb, m, n, k, 1, ins[0], lda, ins[1], ldb, 0, out, n)
		return nil
	}
}
