package sampler

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// columnGatherOp rewrites pre-softmax scores s [B, heads, Lq, Lk] as
// out[b, h, q, j] = s[b, h, q, src[b, j]]: a per-batch-row column map. It is the bind
// trick (the modifier slot's column copied from the noun's) for a batch whose rows
// belong to different requests with different slots; unet.Edits.ScoreColumns applies a
// single map to every row. A copy is exact, so each row gets bitwise the scores that
// the single-request permutation-matrix product gives. Inference only: no gradient.
type columnGatherOp struct {
	id    uint64
	shape tensor.Shape
}

// gatherSeq makes every application's hash unique: gorgonia merges nodes whose hashes
// collide, which would wire one layer's scores into another's.
var gatherSeq atomic.Uint64

var _ G.Op = (*columnGatherOp)(nil)

// gatherColumns adds the op for scores and the column map src [B, Lk] (column indices
// as float values, since graph inputs share the model's dtype).
func gatherColumns(scores, src *G.Node) (*G.Node, error) {
	s := scores.Shape()
	if s.Dims() != 4 || src.Shape().Dims() != 2 || src.Shape()[0] != s[0] || src.Shape()[1] != s[3] {
		return nil, fmt.Errorf("sampler: column map %v does not fit scores %v", src.Shape(), s)
	}
	return G.ApplyOp(&columnGatherOp{id: gatherSeq.Add(1), shape: s.Clone()}, scores, src)
}

func (o *columnGatherOp) Arity() int { return 2 }

func (o *columnGatherOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 4, Of: a})
}

func (o *columnGatherOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.shape.Clone(), nil }
func (o *columnGatherOp) ReturnsPtr() bool                               { return false }
func (o *columnGatherOp) CallsExtern() bool                              { return false }
func (o *columnGatherOp) OverwritesInput() int                           { return -1 }
func (o *columnGatherOp) String() string                                 { return fmt.Sprintf("sampler.GatherColumns%v", o.shape) }

func (o *columnGatherOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", o.String(), o.id) }

func (o *columnGatherOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

func (o *columnGatherOp) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != 2 {
		return nil, fmt.Errorf("sampler: %s: got %d inputs, want 2", o, len(vals))
	}
	in := make([]*tensor.Dense, 2)
	for i, v := range vals {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("sampler: %s: input %d is a %T", o, i, v)
		}
		if d.IsView() || !d.IsNativelyAccessible() {
			d = d.Materialize().(*tensor.Dense)
		}
		in[i] = d
	}
	s, ok := in[0].Data().([]float32)
	src, ok2 := in[1].Data().([]float32)
	if !ok || !ok2 {
		return nil, fmt.Errorf("sampler: %s: inputs are %v and %v, want float32", o, in[0].Dtype(), in[1].Dtype())
	}
	b, heads, lq, lk := o.shape[0], o.shape[1], o.shape[2], o.shape[3]
	out := make([]float32, len(s))
	idx := make([]int, lk)
	for r := 0; r < b; r++ {
		for j := range idx {
			idx[j] = int(src[r*lk+j])
			if idx[j] < 0 || idx[j] >= lk {
				return nil, fmt.Errorf("sampler: %s: row %d maps column %d to %d, outside 0..%d", o, r, j, idx[j], lk-1)
			}
		}
		for at := r * heads * lq; at < (r+1)*heads*lq; at++ {
			row, dst := s[at*lk:(at+1)*lk], out[at*lk:(at+1)*lk]
			for j, from := range idx {
				dst[j] = row[from]
			}
		}
	}
	return tensor.New(tensor.WithShape(o.shape.Clone()...), tensor.WithBacking(out)), nil
}
