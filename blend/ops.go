package blend

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// The two graph ops LatexBlend needs beyond unet.Edits: the blending-guidance loss of
// one cross-attention layer (with its gradient) and the rectification's score
// modulation. Like the nn package's ops, every application has a unique hash (gorgonia
// merges nodes whose hashes collide) and never aliases its inputs.

var opSeq atomic.Uint64

type blendOp struct {
	sig    string
	id     uint64
	inDims []int
	out    tensor.Shape
	do     func(in []*tensor.Dense) (*tensor.Dense, error)
	diff   []bool
	grad   func(in G.Nodes, out, dy *G.Node) (G.Nodes, error)
}

func (o *blendOp) Arity() int { return len(o.inDims) }

func (o *blendOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make(hm.Types, 0, len(o.inDims)+1)
	for _, d := range o.inDims {
		ts = append(ts, G.TensorType{Dims: d, Of: a})
	}
	ts = append(ts, G.TensorType{Dims: len(o.out), Of: a})
	return hm.NewFnType(ts...)
}

func (o *blendOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.out.Clone(), nil }
func (o *blendOp) ReturnsPtr() bool                               { return false }
func (o *blendOp) CallsExtern() bool                              { return false }
func (o *blendOp) OverwritesInput() int                           { return -1 }
func (o *blendOp) String() string                                 { return o.sig }
func (o *blendOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "blend.%s#%d", o.sig, o.id) }

func (o *blendOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

func (o *blendOp) Do(vals ...G.Value) (G.Value, error) {
	ins := make([]*tensor.Dense, len(vals))
	for i, v := range vals {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("blend: %s: input %d is a %T", o.sig, i, v)
		}
		if d.IsView() || !d.IsNativelyAccessible() {
			d = d.Materialize().(*tensor.Dense)
		}
		ins[i] = d
	}
	out, err := o.do(ins)
	if err != nil {
		return nil, fmt.Errorf("blend: %s: %w", o.sig, err)
	}
	return out, nil
}

func (o *blendOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	if o.grad != nil {
		copy(d, o.diff)
	}
	return d
}

func (o *blendOp) SymDiff(in G.Nodes, out, dy *G.Node) (G.Nodes, error) {
	if o.grad == nil {
		return nil, fmt.Errorf("blend: %s has no gradient", o.sig)
	}
	return o.grad(in, out, dy)
}

func applyOp(sig string, out tensor.Shape, do func([]*tensor.Dense) (*tensor.Dense, error), diff []bool, grad func(G.Nodes, *G.Node, *G.Node) (G.Nodes, error), ins ...*G.Node) (*G.Node, error) {
	dims := make([]int, len(ins))
	for i, n := range ins {
		dims[i] = n.Shape().Dims()
	}
	op := &blendOp{sig: sig, id: opSeq.Add(1), inDims: dims, out: out.Clone(), do: do, diff: diff, grad: grad}
	n, err := G.ApplyOp(op, ins...)
	if err != nil {
		return nil, fmt.Errorf("blend: %s: %w", sig, err)
	}
	return n, nil
}

func epsOf(dt tensor.Dtype) float64 {
	if dt == tensor.Float32 {
		return float64(math.Nextafter32(1, 2) - 1)
	}
	return math.Nextafter(1, 2) - 1
}

// headMean averages probs [B, heads, n, l] over B·heads (the reference's P.mean(0)).
func headMean(p []float64, rows, n, l int) []float64 {
	a := make([]float64, n*l)
	for r := 0; r < rows; r++ {
		for i, v := range p[r*n*l : (r+1)*n*l] {
			a[i] += v
		}
	}
	for i := range a {
		a[i] /= float64(rows)
	}
	return a
}

// guidanceLoss adds the loss node of one cross-attention layer: probs [B, heads, h·w, l]
// → [1].
func guidanceLoss(probs *G.Node, h, w int, spec LossSpec) (*G.Node, error) {
	s := probs.Shape()
	if len(s) != 4 || s[2] != h*w {
		return nil, fmt.Errorf("blend: guidance: probabilities %v do not match a %d×%d grid", s, h, w)
	}
	rows, n, l := s[0]*s[1], s[2], s[3]
	if _, err := newPooler(h, w); err != nil {
		return nil, err
	}
	shape := s.Clone()
	do := func(in []*tensor.Dense) (*tensor.Dense, error) {
		a := headMean(nn.Float64s(in[0]), rows, n, l)
		loss, _, err := layerLoss(a, h, w, l, spec, epsOf(in[0].Dtype()), false)
		if err != nil {
			return nil, err
		}
		return nn.DenseFromFloat64(in[0].Dtype(), []float64{loss}, 1), nil
	}
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		gdo := func(in []*tensor.Dense) (*tensor.Dense, error) {
			a := headMean(nn.Float64s(in[0]), rows, n, l)
			_, ga, err := layerLoss(a, h, w, l, spec, epsOf(in[0].Dtype()), true)
			if err != nil {
				return nil, err
			}
			scale := nn.Float64s(in[1])[0] / float64(rows)
			g := make([]float64, rows*n*l)
			for r := 0; r < rows; r++ {
				for i, v := range ga {
					g[r*n*l+i] = v * scale
				}
			}
			return nn.DenseFromFloat64(in[0].Dtype(), g, shape...), nil
		}
		gn, err := applyOp("GuidanceLossGrad", shape, gdo, nil, nil, in[0], dy)
		if err != nil {
			return nil, err
		}
		return G.Nodes{gn}, nil
	}
	return applyOp("GuidanceLoss", tensor.Shape{1}, do, []bool{true}, grad, probs)
}

// rectifyScores applies the rectification to scores [B, heads, Lq, Lk] with per-row
// coefficients boost and sup [B, Lq, Lk] (zero where a row or token is left alone):
// S1 = S + boost·(max_k S − S), then S2 = S1 − sup·(S1 − min_k S), max and min taken
// from the original S (the reference's two in-place updates through a view).
func rectifyScores(scores, boost, sup *G.Node) (*G.Node, error) {
	s := scores.Shape()
	if len(s) != 4 || !boost.Shape().Eq(tensor.Shape{s[0], s[2], s[3]}) || !sup.Shape().Eq(boost.Shape()) {
		return nil, fmt.Errorf("blend: rectification: scores %v need coefficients [%d, %d, %d], got %v and %v", s, s[0], s[2], s[3], boost.Shape(), sup.Shape())
	}
	bs, heads, lq, lk := s[0], s[1], s[2], s[3]
	do := func(in []*tensor.Dense) (*tensor.Dense, error) {
		switch sc := in[0].Data().(type) {
		case []float32:
			out := make([]float32, len(sc))
			rectifyRows(sc, in[1].Data().([]float32), in[2].Data().([]float32), out, bs, heads, lq, lk)
			return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(out)), nil
		case []float64:
			out := make([]float64, len(sc))
			rectifyRows(sc, in[1].Data().([]float64), in[2].Data().([]float64), out, bs, heads, lq, lk)
			return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(out)), nil
		}
		return nil, fmt.Errorf("unsupported dtype %v", in[0].Dtype())
	}
	return applyOp("RectifyScores", s, do, nil, nil, scores, boost, sup)
}

func rectifyRows[T float32 | float64](sc, boost, sup, out []T, bs, heads, lq, lk int) {
	for b := 0; b < bs; b++ {
		for h := 0; h < heads; h++ {
			for q := 0; q < lq; q++ {
				row := sc[((b*heads+h)*lq+q)*lk:][:lk]
				o := out[((b*heads+h)*lq+q)*lk:][:lk]
				wb := boost[(b*lq+q)*lk:][:lk]
				ws := sup[(b*lq+q)*lk:][:lk]
				mx, mn := row[0], row[0]
				for _, v := range row {
					mx = max(mx, v)
					mn = min(mn, v)
				}
				for k, v := range row {
					v1 := v + wb[k]*(mx-v)
					o[k] = v1 - ws[k]*(v1-mn)
				}
			}
		}
	}
}

// headMeanRows averages probs [B, heads, Lq, Lk] over heads for the given batch rows:
// [len(rows), Lq, Lk]. The rectification's save step reads its maps through it, so a
// 64×64 self-attention map costs Lq·Lk values per image instead of B·heads·Lq·Lk.
func headMeanRows(probs *G.Node, rows []int) (*G.Node, error) {
	s := probs.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("blend: attention probabilities %v are not [B, heads, Lq, Lk]", s)
	}
	for _, r := range rows {
		if r < 0 || r >= s[0] {
			return nil, fmt.Errorf("blend: row %d is outside the batch of %d", r, s[0])
		}
	}
	heads, per := s[1], s[2]*s[3]
	out := tensor.Shape{len(rows), s[2], s[3]}
	do := func(in []*tensor.Dense) (*tensor.Dense, error) {
		acc := make([]float64, len(rows)*per)
		switch d := in[0].Data().(type) {
		case []float32:
			for i, r := range rows {
				for h := 0; h < heads; h++ {
					for j, v := range d[(r*heads+h)*per : (r*heads+h+1)*per] {
						acc[i*per+j] += float64(v)
					}
				}
			}
		case []float64:
			for i, r := range rows {
				for h := 0; h < heads; h++ {
					for j, v := range d[(r*heads+h)*per : (r*heads+h+1)*per] {
						acc[i*per+j] += v
					}
				}
			}
		}
		for i := range acc {
			acc[i] /= float64(heads)
		}
		return nn.DenseFromFloat64(in[0].Dtype(), acc, out...), nil
	}
	return applyOp("HeadMeanRows", out, do, nil, nil, probs)
}
