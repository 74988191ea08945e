package sampler

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/unet"
	"github.com/latexblend/latexblend/nn"
)

// rowWrite is one request's concept K/V for one cross-attention module: the rows of
// the UNet batch it writes (its conditional rows), the token positions of its slots and
// the values there, [len(positions), C] row-major for both K and V.
type rowWrite struct {
	rows      []int
	positions []int
	k, v      []float32
}

// batchProcessor is the attention edit of one step of a mixed-concept batch: each
// request's concept K/V written into its own conditional rows only, and each row's own
// bind-trick column map. It computes per row exactly what blend's processor computes
// for a batch of one request (k·keep + new, and a column copy), so batching does not
// change a request's result.
type batchProcessor struct {
	// writes maps each cross-attention module to the writes of every blending request
	// (empty when no request blends at this step).
	writes map[string][]rowWrite
	// cols, when set, is the column map [B, 77] of every row (identity where a row has
	// no bind trick).
	cols [][]int
}

var _ unet.Processor = (*batchProcessor)(nil)

func (p *batchProcessor) Key() string {
	return fmt.Sprintf("sampler.batch kv=%v bind=%v", len(p.writes) > 0, p.cols != nil)
}

func kvInput(module, what string) string { return "sampler." + module + "." + what }

const colsInput = "sampler.cols"

// Inputs builds keep (0 where a row is written) and new (the written values) tensors
// [B, L, C] per module, and the column map.
func (p *batchProcessor) Inputs(call unet.Inputs) (map[string]*tensor.Dense, error) {
	bs, l := call.Sample.Shape()[0], call.Context.Shape()[1]
	out := map[string]*tensor.Dense{}
	for module, ws := range p.writes {
		var c int
		for _, w := range ws {
			if len(w.positions) > 0 {
				c = len(w.k) / len(w.positions)
			}
		}
		if c == 0 {
			return nil, fmt.Errorf("sampler: %s: no values to write", module)
		}
		for _, what := range []string{"k", "v"} {
			keep := make([]float32, bs*l*c)
			for i := range keep {
				keep[i] = 1
			}
			neu := make([]float32, bs*l*c)
			for _, w := range ws {
				vals := w.k
				if what == "v" {
					vals = w.v
				}
				if len(vals) != len(w.positions)*c {
					return nil, fmt.Errorf("sampler: %s: %d %s values for %d positions of width %d", module, len(vals), what, len(w.positions), c)
				}
				for _, row := range w.rows {
					for pi, pos := range w.positions {
						if row < 0 || row >= bs || pos < 0 || pos >= l {
							return nil, fmt.Errorf("sampler: %s: row %d position %d outside [%d, %d]", module, row, pos, bs, l)
						}
						dst := (row*l + pos) * c
						copy(neu[dst:dst+c], vals[pi*c:(pi+1)*c])
						for j := dst; j < dst+c; j++ {
							keep[j] = 0
						}
					}
				}
			}
			out[kvInput(module, what+"_keep")] = tensor.New(tensor.WithShape(bs, l, c), tensor.WithBacking(keep))
			out[kvInput(module, what+"_new")] = tensor.New(tensor.WithShape(bs, l, c), tensor.WithBacking(neu))
		}
	}
	if p.cols != nil {
		if len(p.cols) != bs {
			return nil, fmt.Errorf("sampler: column maps for %d rows, the batch has %d", len(p.cols), bs)
		}
		m := make([]float32, bs*l)
		for r, src := range p.cols {
			if len(src) != l {
				return nil, fmt.Errorf("sampler: row %d's column map has %d entries, the context %d tokens", r, len(src), l)
			}
			for j, s := range src {
				m[r*l+j] = float32(s)
			}
		}
		out[colsInput] = tensor.New(tensor.WithShape(bs, l), tensor.WithBacking(m))
	}
	return out, nil
}

func (p *batchProcessor) Hooks() unet.Hooks {
	return unet.Hooks{
		KV: func(b *nn.Builder, s unet.Site, k, v *G.Node) (*G.Node, *G.Node, error) {
			if _, ok := p.writes[s.Module]; !ok || !s.Cross {
				return k, v, nil
			}
			k, err := writeKV(b, s.Module, "k", k)
			if err != nil {
				return nil, nil, err
			}
			v, err = writeKV(b, s.Module, "v", v)
			return k, v, err
		},
		Unfused: func(s unet.Site) bool { return s.Cross && p.cols != nil },
		Scores: func(b *nn.Builder, s unet.Site, sc *G.Node) (*G.Node, error) {
			if !s.Cross || p.cols == nil {
				return sc, nil
			}
			src, err := b.Input(colsInput)
			if err != nil {
				return nil, err
			}
			return gatherColumns(sc, src)
		},
	}
}

// writeKV computes x·keep + new, as unet.Edits does for a single request.
func writeKV(b *nn.Builder, module, what string, x *G.Node) (*G.Node, error) {
	keep, err := b.Input(kvInput(module, what+"_keep"))
	if err != nil {
		return nil, err
	}
	neu, err := b.Input(kvInput(module, what+"_new"))
	if err != nil {
		return nil, err
	}
	if !keep.Shape().Eq(x.Shape()) {
		return nil, fmt.Errorf("sampler: %s: %s written as %v into %v", module, what, keep.Shape(), x.Shape())
	}
	y, err := G.HadamardProd(x, keep)
	if err != nil {
		return nil, err
	}
	return G.Add(y, neu)
}
