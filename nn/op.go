package nn

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernelOp is the one gorgonia Op type behind all of our ops. Every instance computes a
// fresh output (never aliasing or overwriting an input, unlike gorgonia's Reshape), its
// output shape is fixed when the graph is built (graphs are built per input shape), and
// its backward pass is expressed as more kernelOps, so gradients are symbolic nodes that
// the TapeMachine runs like any other.
type kernelOp struct {
	// sig names the op and its parameters (for String and error messages).
	sig string
	// id makes every application's hash unique. gorgonia merges a new node into an
	// existing one when their 32-bit node hashes collide and their op hashes, types and
	// shapes agree, without comparing children; in a large graph of identical layers a
	// collision would silently wire a layer to another's inputs. Unique op hashes rule
	// that out (we never rely on gorgonia merging common subexpressions).
	id     uint64
	inDims []int
	out    tensor.Shape
	f32    func(in [][]float32, out []float32) error
	f64    func(in [][]float64, out []float64) error
	// dense, when set, replaces f32/f64: it makes the output tensor itself (ApplyDense).
	dense DenseKernel
	// diff says which inputs get a gradient; grad builds their gradient nodes (nil
	// entries where diff is false). A nil grad makes the op a backward-only op.
	diff []bool
	grad func(in G.Nodes, out, dy *G.Node) (G.Nodes, error)
}

// opSeq numbers kernelOp applications.
var opSeq atomic.Uint64

var (
	_ G.Op   = (*kernelOp)(nil)
	_ G.SDOp = (*kernelOp)(nil)
)

func (o *kernelOp) Arity() int { return len(o.inDims) }

func (o *kernelOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make(hm.Types, 0, len(o.inDims)+1)
	for _, d := range o.inDims {
		ts = append(ts, G.TensorType{Dims: d, Of: a})
	}
	ts = append(ts, G.TensorType{Dims: len(o.out), Of: a})
	return hm.NewFnType(ts...)
}

func (o *kernelOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.out.Clone(), nil }
func (o *kernelOp) ReturnsPtr() bool                               { return false }
func (o *kernelOp) CallsExtern() bool                              { return false }
func (o *kernelOp) OverwritesInput() int                           { return -1 }
func (o *kernelOp) String() string                                 { return o.sig }

func (o *kernelOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "nn.%s#%d%v%v", o.sig, o.id, o.inDims, o.out)
}

func (o *kernelOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

func (o *kernelOp) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != len(o.inDims) {
		return nil, fmt.Errorf("nn: %s: got %d inputs, want %d", o.sig, len(vals), len(o.inDims))
	}
	ins := make([]*tensor.Dense, len(vals))
	var dt tensor.Dtype
	for i, v := range vals {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("nn: %s: input %d is a %T, want a dense tensor", o.sig, i, v)
		}
		if d.IsView() || !d.IsNativelyAccessible() {
			d = d.Materialize().(*tensor.Dense)
		}
		if i == 0 {
			dt = d.Dtype()
		} else if d.Dtype() != dt {
			return nil, fmt.Errorf("nn: %s: input %d is %v, input 0 is %v", o.sig, i, d.Dtype(), dt)
		}
		ins[i] = d
	}
	if o.dense != nil {
		out, err := o.dense(ins)
		switch {
		case err != nil:
			return nil, fmt.Errorf("nn: %s: %w", o.sig, err)
		case out == nil || !out.Shape().Eq(o.out) || out.Dtype() != dt:
			return nil, fmt.Errorf("nn: %s: the kernel made %v, the graph expects %v %v", o.sig, describe(out), dt, o.out)
		}
		return out, nil
	}
	out := tensor.New(tensor.Of(dt), tensor.WithShape(o.out.Clone()...))
	var err error
	switch dt {
	case tensor.Float32:
		err = o.f32(dataOf[float32](ins), out.Data().([]float32))
	case tensor.Float64:
		err = o.f64(dataOf[float64](ins), out.Data().([]float64))
	default:
		err = fmt.Errorf("dtype %v is not supported (float32 or float64)", dt)
	}
	if err != nil {
		return nil, fmt.Errorf("nn: %s: %w", o.sig, err)
	}
	return out, nil
}

func dataOf[T float](ins []*tensor.Dense) [][]T {
	s := make([][]T, len(ins))
	for i, d := range ins {
		s[i] = d.Data().([]T)
	}
	return s
}

func (o *kernelOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	if o.grad != nil {
		copy(d, o.diff)
	}
	return d
}

func (o *kernelOp) SymDiff(in G.Nodes, out, dy *G.Node) (G.Nodes, error) {
	if o.grad == nil {
		return nil, fmt.Errorf("nn: %s has no gradient (it is part of a backward pass)", o.sig)
	}
	gs, err := o.grad(in, out, dy)
	if err != nil {
		return nil, fmt.Errorf("nn: gradient of %s: %w", o.sig, err)
	}
	return gs, nil
}

// kernel pairs the float32 and float64 instances of one generic kernel.
type kernel struct {
	f32 func(in [][]float32, out []float32) error
	f64 func(in [][]float64, out []float64) error
}

// apply adds a kernelOp node to the graph of the first input.
func apply(sig string, k kernel, out tensor.Shape, diff []bool, grad func(in G.Nodes, out, dy *G.Node) (G.Nodes, error), ins ...*G.Node) (*G.Node, error) {
	return applyOp(&kernelOp{sig: sig, out: out.Clone(), f32: k.f32, f64: k.f64, diff: diff, grad: grad}, ins)
}

// applyOp numbers op, records its inputs' ranks and adds it to the first input's graph.
func applyOp(op *kernelOp, ins []*G.Node) (*G.Node, error) {
	op.inDims = make([]int, len(ins))
	for i, n := range ins {
		if n == nil {
			return nil, fmt.Errorf("nn: %s: input %d is nil", op.sig, i)
		}
		op.inDims[i] = n.Shape().Dims()
	}
	op.id = opSeq.Add(1)
	n, err := G.ApplyOp(op, ins...)
	if err != nil {
		return nil, fmt.Errorf("nn: %s: %w", op.sig, err)
	}
	return n, nil
}

// DenseKernel computes an op's output tensor from its inputs (dense, contiguous, of
// one dtype). The output must be new memory of the shape and dtype given to ApplyDense.
type DenseKernel func(in []*tensor.Dense) (*tensor.Dense, error)

// ApplyDense adds a node computing k to the graph of the first input, for ops built
// outside this package (LatexBlend's guidance loss and rectification). It is the same
// op type as this package's, so it has a unique hash and never aliases an input. diff
// and grad are as for this package's ops: grad builds the gradients of the inputs
// marked in diff; nil makes a node that has no gradient.
func ApplyDense(sig string, k DenseKernel, out tensor.Shape, diff []bool, grad func(in G.Nodes, out, dy *G.Node) (G.Nodes, error), ins ...*G.Node) (*G.Node, error) {
	if k == nil {
		return nil, fmt.Errorf("nn: %s: no kernel", sig)
	}
	return applyOp(&kernelOp{sig: sig, out: out.Clone(), dense: k, diff: diff, grad: grad}, ins)
}

func describe(t *tensor.Dense) string {
	if t == nil {
		return "no tensor"
	}
	return fmt.Sprintf("%v %v", t.Dtype(), t.Shape())
}

// backwardOp adds a node that is only ever part of a backward pass.
func backwardOp(sig string, k kernel, out tensor.Shape, ins ...*G.Node) (*G.Node, error) {
	return apply(sig, k, out, nil, nil, ins...)
}

func numel(s tensor.Shape) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
