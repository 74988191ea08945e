package unet

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// rowExtremeOp maps x [..., K] to the same shape holding, in every entry of a row, the
// row's maximum (or minimum) over the last axis. As a backward op (grad set) it takes
// (x, dy) and returns dx: each row's Σ dy lands on the row's first extreme entry, which
// is the derivative torch's max/min(dim) gives. gorgonia's own Max reduction has a
// wrong gradient here (TestRectifyGradientFD caught it), and its broadcasting goes
// through the aliasing Reshape, hence this op.
type rowExtremeOp struct {
	minimum  bool
	backward bool
	shape    tensor.Shape
}

var (
	_ G.Op   = (*rowExtremeOp)(nil)
	_ G.SDOp = (*rowExtremeOp)(nil)
)

// rowExtreme adds the op for s (RowMax, or RowMin with minimum set).
func rowExtreme(s *G.Node, minimum bool) (*G.Node, error) {
	return G.ApplyOp(&rowExtremeOp{minimum: minimum, shape: s.Shape().Clone()}, s)
}

func (o *rowExtremeOp) Arity() int {
	if o.backward {
		return 2
	}
	return 1
}

func (o *rowExtremeOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: len(o.shape), Of: a}
	if o.backward {
		return hm.NewFnType(t, t, t)
	}
	return hm.NewFnType(t, t)
}

func (o *rowExtremeOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.shape.Clone(), nil }
func (o *rowExtremeOp) ReturnsPtr() bool                               { return false }
func (o *rowExtremeOp) CallsExtern() bool                              { return false }
func (o *rowExtremeOp) OverwritesInput() int                           { return -1 }

func (o *rowExtremeOp) String() string {
	return fmt.Sprintf("unet.RowExtreme(min=%v,backward=%v)%v", o.minimum, o.backward, o.shape)
}

func (o *rowExtremeOp) WriteHash(h hash.Hash) { fmt.Fprint(h, o.String()) }

func (o *rowExtremeOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

func (o *rowExtremeOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	if !o.backward && n > 0 {
		d[0] = true
	}
	return d
}

func (o *rowExtremeOp) SymDiff(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	if o.backward {
		return nil, fmt.Errorf("unet: %s has no gradient", o)
	}
	back := &rowExtremeOp{minimum: o.minimum, backward: true, shape: o.shape.Clone()}
	dx, err := G.ApplyOp(back, in[0], dy)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

func (o *rowExtremeOp) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != o.Arity() {
		return nil, fmt.Errorf("unet: %s: %d inputs, want %d", o, len(vals), o.Arity())
	}
	ds := make([]*tensor.Dense, len(vals))
	for i, v := range vals {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("unet: %s: input %d is a %T", o, i, v)
		}
		if d.IsView() {
			d = d.Materialize().(*tensor.Dense)
		}
		ds[i] = d
	}
	k := o.shape[len(o.shape)-1]
	out := tensor.New(tensor.Of(ds[0].Dtype()), tensor.WithShape(o.shape.Clone()...))
	switch x := ds[0].Data().(type) {
	case []float32:
		var dy []float32
		if o.backward {
			dy = ds[1].Data().([]float32)
		}
		rowExtremeKernel(x, dy, out.Data().([]float32), k, o.minimum)
	case []float64:
		var dy []float64
		if o.backward {
			dy = ds[1].Data().([]float64)
		}
		rowExtremeKernel(x, dy, out.Data().([]float64), k, o.minimum)
	default:
		return nil, fmt.Errorf("unet: %s: dtype %v", o, ds[0].Dtype())
	}
	return out, nil
}

// rowExtremeKernel writes each row's extreme (dy nil) or the gradient (dy set).
func rowExtremeKernel[T float32 | float64](x, dy, out []T, k int, minimum bool) {
	for r := 0; r < len(x)/k; r++ {
		row := x[r*k : (r+1)*k]
		best := 0
		for j, v := range row {
			if (minimum && v < row[best]) || (!minimum && v > row[best]) {
				best = j
			}
		}
		o := out[r*k : (r+1)*k]
		if dy == nil {
			for j := range o {
				o[j] = row[best]
			}
			continue
		}
		var sum T
		for _, g := range dy[r*k : (r+1)*k] {
			sum += g
		}
		clear(o)
		o[best] = sum
	}
}
