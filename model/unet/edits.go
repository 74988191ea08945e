package unet

import (
	"fmt"
	"sort"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// KVRows writes keys and values at token positions of some batch rows of one
// cross-attention module (LatexBlend writes a concept bank's [article|modifier, noun]
// K/V into the conditional rows).
type KVRows struct {
	Rows      []int // batch rows to write
	Positions []int // token positions (axis 1 of the keys)
	// K and V are [len(Positions), C] (the same for every row) or
	// [len(Rows), len(Positions), C], C being the module's channels.
	K, V *tensor.Dense
}

// ColumnCopy makes the pre-softmax score column To a copy of column From (LatexBlend's
// bind trick: the modifier slot attends where the noun's last token does).
type ColumnCopy struct{ From, To int }

// Edits is a ready-made Processor for what LatexBlend and its trainer need from
// attention: writing K/V rows, reading K/V and probabilities, copying score columns and
// adding score biases. Extra outputs are named "<module>.k", "<module>.v" and
// "<module>.probs". An Edits value is read when Forward is called and may be reused.
type Edits struct {
	// ReplaceKV maps cross-attention module paths to the rows written into them.
	ReplaceKV map[string]KVRows
	// ReadKV lists cross-attention modules whose keys and values [B, L, C] (after any
	// replacement) are returned.
	ReadKV []string
	// ReadProbs lists attention modules (attn1 or attn2) whose probabilities
	// [B, heads, Lq, Lk] are returned.
	ReadProbs []string
	// ScoreColumns apply to every cross-attention module and every row.
	ScoreColumns []ColumnCopy
	// Rectify maps cross-attention modules to LatexBlend's self-rectification of the
	// scores (applied after ScoreColumns, before ScoreBias).
	Rectify map[string]Rectification
	// ScoreBias maps attention modules to a bias [B, heads, Lq, Lk] added to their
	// pre-softmax scores (after ScoreColumns and Rectify).
	ScoreBias map[string]*tensor.Dense
}

// Rectification pushes scores toward their row maximum where Boost is non-zero and
// toward the row minimum where Suppress is non-zero (LatexBlend's refine_attn):
//
//	S1 = S + Boost ⊙ (max_k S − S)
//	S2 = S1 − Suppress ⊙ (S1 − min_k S)
//
// with the row extremes taken over the keys of the original S. Boost and Suppress are
// [B, heads, Lq, Lk] coefficients: 1[mask > 0]·size_reg·c_reg·(t/1000)^5 in the
// reference, zero in rows (e.g. the unconditional half) that are not rectified.
type Rectification struct{ Boost, Suppress *tensor.Dense }

var _ Processor = (*Edits)(nil)

// Key encodes which modules are edited and how; positions and values are inputs.
func (e *Edits) Key() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "edits kv=%v read=%v probs=%v cols=%v rectify=%v bias=%v",
		sortedNames(e.ReplaceKV), sortedCopy(e.ReadKV), sortedCopy(e.ReadProbs), len(e.ScoreColumns) > 0, sortedNames(e.Rectify), sortedNames(e.ScoreBias))
	return sb.String()
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func editInput(module, what string) string { return "edits." + module + "." + what }

const scoreMapInput = "edits.score_map"

// Inputs turns the edits into graph inputs for a call: a keep mask and the written
// values for each replaced module, the key-axis permutation matrix for ScoreColumns and
// the biases.
func (e *Edits) Inputs(call Inputs) (map[string]*tensor.Dense, error) {
	if call.Sample == nil || call.Context == nil {
		return nil, fmt.Errorf("unet: edits: the call has no sample or context")
	}
	bs, l := call.Sample.Shape()[0], call.Context.Shape()[1]
	dt := call.Sample.Dtype()
	out := map[string]*tensor.Dense{}
	for _, module := range sortedNames(e.ReplaceKV) {
		r := e.ReplaceKV[module]
		for _, kv := range []struct {
			what string
			t    *tensor.Dense
		}{{"k", r.K}, {"v", r.V}} {
			keep, vals, err := kvInputs(r, kv.t, bs, l, dt)
			if err != nil {
				return nil, fmt.Errorf("unet: edits: %s %s: %w", module, kv.what, err)
			}
			out[editInput(module, kv.what+"_keep")] = keep
			out[editInput(module, kv.what+"_new")] = vals
		}
	}
	if len(e.ScoreColumns) > 0 {
		// s' = s·Wᵀ with W[j, i] = 1 where column j reads column i.
		w := make([]float64, l*l)
		src := make([]int, l)
		for j := range src {
			src[j] = j
		}
		for _, c := range e.ScoreColumns {
			if c.From < 0 || c.From >= l || c.To < 0 || c.To >= l {
				return nil, fmt.Errorf("unet: edits: score column copy %d → %d is outside the %d tokens", c.From, c.To, l)
			}
			src[c.To] = c.From
		}
		for j, i := range src {
			w[j*l+i] = 1
		}
		out[scoreMapInput] = nn.DenseFromFloat64(dt, w, l, l)
	}
	for _, module := range sortedNames(e.Rectify) {
		r := e.Rectify[module]
		for what, t := range map[string]*tensor.Dense{"boost": r.Boost, "suppress": r.Suppress} {
			if t == nil || t.Dtype() != dt || t.Dims() != 4 || t.Shape()[0] != bs || t.Shape()[3] != l {
				return nil, fmt.Errorf("unet: edits: rectification %s of %s must be a %v [%d, heads, Lq, %d] tensor", what, module, dt, bs, l)
			}
			out[editInput(module, what)] = t
		}
	}
	for _, module := range sortedNames(e.ScoreBias) {
		t := e.ScoreBias[module]
		if t == nil || t.Dtype() != dt || t.Dims() != 4 || t.Shape()[0] != bs {
			return nil, fmt.Errorf("unet: edits: score bias of %s must be a %v [%d, heads, Lq, Lk] tensor", module, dt, bs)
		}
		out[editInput(module, "score_bias")] = t
	}
	return out, nil
}

// kvInputs builds keep [B, L, C] (0 at written entries) and new [B, L, C] (the
// written values, 0 elsewhere), so the graph computes k·keep + new.
func kvInputs(r KVRows, t *tensor.Dense, bs, l int, dt tensor.Dtype) (*tensor.Dense, *tensor.Dense, error) {
	if t == nil {
		return nil, nil, fmt.Errorf("no values")
	}
	s := t.Shape()
	np := len(r.Positions)
	perRow := len(s) == 3
	if !(len(s) == 2 && s[0] == np) && !(perRow && s[0] == len(r.Rows) && s[1] == np) {
		return nil, nil, fmt.Errorf("values have shape %v, want [%d, C] or [%d, %d, C]", s, np, len(r.Rows), np)
	}
	c := s[len(s)-1]
	vals := nn.Float64s(t)
	keep := make([]float64, bs*l*c)
	for i := range keep {
		keep[i] = 1
	}
	neu := make([]float64, bs*l*c)
	for ri, row := range r.Rows {
		if row < 0 || row >= bs {
			return nil, nil, fmt.Errorf("row %d is outside the batch of %d", row, bs)
		}
		for pi, pos := range r.Positions {
			if pos < 0 || pos >= l {
				return nil, nil, fmt.Errorf("position %d is outside the %d tokens", pos, l)
			}
			src := pi * c
			if perRow {
				src = (ri*np + pi) * c
			}
			dst := (row*l + pos) * c
			for j := 0; j < c; j++ {
				keep[dst+j] = 0
				neu[dst+j] = vals[src+j]
			}
		}
	}
	return nn.DenseFromFloat64(dt, keep, bs, l, c), nn.DenseFromFloat64(dt, neu, bs, l, c), nil
}

// Hooks builds the edits into the graph.
func (e *Edits) Hooks() Hooks {
	readKV := setOf(e.ReadKV)
	probs := setOf(e.ReadProbs)
	return Hooks{
		KV: func(b *nn.Builder, s Site, k, v *G.Node) (*G.Node, *G.Node, error) {
			if _, ok := e.ReplaceKV[s.Module]; ok {
				if !s.Cross {
					return nil, nil, fmt.Errorf("ReplaceKV names a self-attention module; only cross-attention (attn2) rows can be written")
				}
				var err error
				if k, err = writeRows(b, s.Module, "k", k); err != nil {
					return nil, nil, err
				}
				if v, err = writeRows(b, s.Module, "v", v); err != nil {
					return nil, nil, err
				}
			}
			if readKV[s.Module] {
				b.Output(s.Module+".k", k)
				b.Output(s.Module+".v", v)
			}
			return k, v, nil
		},
		Unfused: func(s Site) bool {
			_, bias := e.ScoreBias[s.Module]
			_, rect := e.Rectify[s.Module]
			return probs[s.Module] || bias || rect || (s.Cross && len(e.ScoreColumns) > 0)
		},
		Scores: func(b *nn.Builder, s Site, sc *G.Node) (*G.Node, error) {
			var err error
			if s.Cross && len(e.ScoreColumns) > 0 {
				w, err := b.Input(scoreMapInput)
				if err != nil {
					return nil, err
				}
				if sc, err = b.Linear(sc, w, nil); err != nil {
					return nil, fmt.Errorf("score columns: %w", err)
				}
			}
			if _, ok := e.Rectify[s.Module]; ok {
				if sc, err = rectify(b, s.Module, sc); err != nil {
					return nil, fmt.Errorf("rectification: %w", err)
				}
			}
			if _, ok := e.ScoreBias[s.Module]; ok {
				bias, err := b.Input(editInput(s.Module, "score_bias"))
				if err != nil {
					return nil, err
				}
				if !bias.Shape().Eq(sc.Shape()) {
					return nil, fmt.Errorf("score bias has shape %v, the scores %v", bias.Shape(), sc.Shape())
				}
				if sc, err = G.Add(sc, bias); err != nil {
					return nil, err
				}
			}
			return sc, err
		},
		Probs: func(b *nn.Builder, s Site, p *G.Node) (*G.Node, error) {
			if probs[s.Module] {
				b.Output(s.Module+".probs", p)
			}
			return p, nil
		},
	}
}

// rectify applies Rectification to scores s [B, H, Lq, Lk].
func rectify(b *nn.Builder, module string, s *G.Node) (*G.Node, error) {
	boost, err := b.Input(editInput(module, "boost"))
	if err != nil {
		return nil, err
	}
	suppress, err := b.Input(editInput(module, "suppress"))
	if err != nil {
		return nil, err
	}
	if !boost.Shape().Eq(s.Shape()) || !suppress.Shape().Eq(s.Shape()) {
		return nil, fmt.Errorf("coefficients %v / %v do not match the scores %v", boost.Shape(), suppress.Shape(), s.Shape())
	}
	mx, err := rowExtreme(s, false)
	if err != nil {
		return nil, err
	}
	mn, err := rowExtreme(s, true)
	if err != nil {
		return nil, err
	}
	up, err := G.Sub(mx, s)
	if err == nil {
		up, err = G.HadamardProd(boost, up)
	}
	var s1 *G.Node
	if err == nil {
		s1, err = G.Add(s, up)
	}
	var down *G.Node
	if err == nil {
		down, err = G.Sub(s1, mn)
	}
	if err == nil {
		down, err = G.HadamardProd(suppress, down)
	}
	if err != nil {
		return nil, err
	}
	return G.Sub(s1, down)
}

// writeRows computes x·keep + new from the module's inputs.
func writeRows(b *nn.Builder, module, what string, x *G.Node) (*G.Node, error) {
	keep, err := b.Input(editInput(module, what+"_keep"))
	if err != nil {
		return nil, err
	}
	neu, err := b.Input(editInput(module, what+"_new"))
	if err != nil {
		return nil, err
	}
	if !keep.Shape().Eq(x.Shape()) {
		return nil, fmt.Errorf("%s rows written as %v into %v %s", what, keep.Shape(), x.Shape(), map[string]string{"k": "keys", "v": "values"}[what])
	}
	y, err := G.HadamardProd(x, keep)
	if err != nil {
		return nil, err
	}
	return G.Add(y, neu)
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
