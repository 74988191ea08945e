package nn

import (
	"fmt"
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Embedding looks up rows of table [V, D] for ids of any shape, giving ids.shape + [D].
// ids is a node of the graph's float type holding whole numbers (so it can be a graph
// input like any other); a value that is not a whole number in [0, V) fails the run
// with an error naming it. The ids get no gradient.
//
// trainRows restricts the table's gradient to those rows (every other row gets exactly
// zero), which is how one new token's embedding row is trained while the rest of the
// vocabulary stays frozen; nil means every row.
func (b *Builder) Embedding(ids, table *G.Node, trainRows []int) (*G.Node, error) {
	ts := table.Shape()
	if len(ts) != 2 {
		return nil, fmt.Errorf("nn: Embedding: table %v must be [V, D]", ts)
	}
	v, d := ts[0], ts[1]
	var mask []bool
	if trainRows != nil {
		mask = make([]bool, v)
		for _, r := range trainRows {
			if r < 0 || r >= v {
				return nil, fmt.Errorf("nn: Embedding: trainable row %d is outside the table's %d rows", r, v)
			}
			mask[r] = true
		}
	}
	rows := slices.Clone(trainRows)
	slices.Sort(rows)
	n := numel(ids.Shape())
	out := append(ids.Shape().Clone(), d)
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		gs := make(G.Nodes, 2)
		if !b.RequiresGrad(in[1]) {
			return gs, nil
		}
		k := kernel{embeddingGrad[float32](n, v, d, mask), embeddingGrad[float64](n, v, d, mask)}
		var err error
		gs[1], err = backwardOp(fmt.Sprintf("EmbeddingGrad(rows=%v)", rows), k, tensor.Shape{v, d}, in[0], dy)
		return gs, err
	}
	k := kernel{embeddingForward[float32](n, v, d), embeddingForward[float64](n, v, d)}
	return apply("Embedding", k, out, []bool{false, b.RequiresGrad(table)}, grad, ids, table)
}

func tokenID[T float](x T, pos, v int) (int, error) {
	f := float64(x)
	if f != math.Trunc(f) || f < 0 || f >= float64(v) {
		return 0, fmt.Errorf("embedding id %v at position %d is not a whole number in [0, %d)", f, pos, v)
	}
	return int(f), nil
}

func embeddingForward[T float](n, v, d int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		ids, table := in[0], in[1]
		for i := 0; i < n; i++ {
			id, err := tokenID(ids[i], i, v)
			if err != nil {
				return err
			}
			copy(out[i*d:(i+1)*d], table[id*d:(id+1)*d])
		}
		return nil
	}
}

func embeddingGrad[T float](n, v, d int, mask []bool) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		ids, dy := in[0], in[1]
		for i := 0; i < n; i++ {
			id, err := tokenID(ids[i], i, v)
			if err != nil {
				return err
			}
			if mask != nil && !mask[id] {
				continue
			}
			row := out[id*d : (id+1)*d]
			for j, g := range dy[i*d : (i+1)*d] {
				row[j] += g
			}
		}
		return nil
	}
}

// DetachPositions passes x [B, L, …] through unchanged but stops the gradient at the
// given positions of axis 1: Custom Diffusion detaches the keys and values of the BOS
// token (position 0) in every cross-attention layer.
func (b *Builder) DetachPositions(x *G.Node, positions []int) (*G.Node, error) {
	s := x.Shape()
	if len(s) < 2 {
		return nil, fmt.Errorf("nn: DetachPositions of %v: need [B, L, …]", s)
	}
	l := s[1]
	for _, p := range positions {
		if p < 0 || p >= l {
			return nil, fmt.Errorf("nn: DetachPositions: position %d is outside [0, %d)", p, l)
		}
	}
	pos := slices.Clone(positions)
	slices.Sort(pos)
	bs, inner := s[0], numel(s)/(s[0]*l)
	shape := s.Clone()
	grad := func(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		k := kernel{zeroPositions[float32](bs, l, inner, pos), zeroPositions[float64](bs, l, inner, pos)}
		dx, err := backwardOp(fmt.Sprintf("ZeroPositions(%v)", pos), k, shape, dy)
		return G.Nodes{dx}, err
	}
	return apply(fmt.Sprintf("DetachPositions(%v)", pos), kernel{copyKernel[float32], copyKernel[float64]}, shape, b.diffs(x), grad, x)
}

func zeroPositions[T float](bs, l, inner int, pos []int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		copy(out, in[0])
		for bi := 0; bi < bs; bi++ {
			for _, p := range pos {
				clear(out[(bi*l+p)*inner : (bi*l+p+1)*inner])
			}
		}
		return nil
	}
}
