package clip

import (
	"fmt"
	"slices"

	"gorgonia.org/tensor"
)

// AddTokenRows grows the token embedding by one row per entry of initFrom, row i being
// a copy of row initFrom[i], and returns the new rows' ids (from NumTokens on, matching
// the ids Tokenizer.AddTokens hands out when both start from the same vocabulary). This
// is transformers' resize_token_embeddings followed by the training scripts'
// initialisation from an existing token (e.g. <new1> = 49408 from "ktn" = 42170).
//
// The table is replaced by a larger one, so graphs built earlier keep reading the old
// table: grow before building graphs (TextEncoder rebuilds its own). A gradient buffer,
// when the table is trainable, is reallocated zeroed.
func (m *TextModel) AddTokenRows(initFrom ...int) ([]int, error) {
	p := m.TokenEmbedding.Weight
	old := p.Value.Shape()
	v, d := old[0], old[1]
	for i, src := range initFrom {
		if src < 0 || src >= v {
			return nil, fmt.Errorf("clip: %s: new row %d: initialiser row %d is outside the table's %d rows", p.Name, i, src, v)
		}
	}
	if len(initFrom) == 0 {
		return nil, nil
	}
	n := v + len(initFrom)
	grown := tensor.New(tensor.Of(p.Value.Dtype()), tensor.WithShape(n, d))
	switch dst := grown.Data().(type) {
	case []float32:
		growRows(dst, p.Value.Data().([]float32), v, d, initFrom)
	case []float64:
		growRows(dst, p.Value.Data().([]float64), v, d, initFrom)
	}
	p.Value = grown
	if p.Grad != nil {
		p.Grad = tensor.New(tensor.Of(grown.Dtype()), tensor.WithShape(n, d))
	}
	ids := make([]int, len(initFrom))
	for i := range ids {
		ids[i] = v + i
	}
	m.added = append(m.added, ids...)
	return ids, nil
}

func growRows[T float32 | float64](dst, src []T, v, d int, initFrom []int) {
	copy(dst, src)
	for i, from := range initFrom {
		copy(dst[(v+i)*d:(v+i+1)*d], src[from*d:(from+1)*d])
	}
}

// AddedRows returns the ids of the rows added by AddTokenRows.
func (m *TextModel) AddedRows() []int { return slices.Clone(m.added) }

// TrainOnlyAddedRows restricts the token embedding's gradient to the added rows, which
// is how Custom Diffusion trains a new token while the vocabulary stays frozen (the
// table must also be marked trainable in the store). With no added rows no row trains.
func (m *TextModel) TrainOnlyAddedRows() {
	m.TokenEmbedding.TrainRows = append([]int{}, m.added...)
}

// TokenRow returns a copy of one token-embedding row as float32.
func (m *TextModel) TokenRow(id int) ([]float32, error) {
	p := m.TokenEmbedding.Weight
	v, d := p.Value.Shape()[0], p.Value.Shape()[1]
	if id < 0 || id >= v {
		return nil, fmt.Errorf("clip: %s: row %d is outside the table's %d rows", p.Name, id, v)
	}
	out := make([]float32, d)
	switch src := p.Value.Data().(type) {
	case []float32:
		copy(out, src[id*d:(id+1)*d])
	case []float64:
		for j := range out {
			out[j] = float32(src[id*d+j])
		}
	}
	return out, nil
}

// SetTokenRow overwrites one token-embedding row, e.g. with a trained <new1> vector.
// Graphs read the table in place, so the next run sees it.
func (m *TextModel) SetTokenRow(id int, row []float32) error {
	p := m.TokenEmbedding.Weight
	v, d := p.Value.Shape()[0], p.Value.Shape()[1]
	if id < 0 || id >= v {
		return fmt.Errorf("clip: %s: row %d is outside the table's %d rows", p.Name, id, v)
	}
	if len(row) != d {
		return fmt.Errorf("clip: %s: row %d: %d values, the embedding width is %d", p.Name, id, len(row), d)
	}
	switch dst := p.Value.Data().(type) {
	case []float32:
		copy(dst[id*d:(id+1)*d], row)
	case []float64:
		for j, x := range row {
			dst[id*d+j] = float64(x)
		}
	}
	return nil
}
