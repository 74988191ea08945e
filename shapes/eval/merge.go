package eval

import (
	"fmt"
	"slices"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/nn"
	"github.com/latexblend/latexblend/trainer"
)

// MergeDeltas averages the fine-tuned weights of several concepts' deltas into one set,
// as Custom Diffusion users merge separately trained concepts into one model: every
// attn2 to_k/to_v weight is the mean of the deltas' weights. A delta that holds no
// weights (token-only, trainer.Recipe.TokenOnly) stands for the base model's, read from
// base; the others must hold the same weights with the same shapes. All must come from
// the same base model, and their modifier tokens must differ (each keeps its own
// embedding rows, see InstallTokens). Only token-only deltas merge into no weights.
func MergeDeltas(base *nn.Params, deltas []*trainer.Delta) (map[string][]float32, error) {
	if len(deltas) == 0 {
		return nil, fmt.Errorf("eval: merging no deltas")
	}
	first := deltas[0]
	var trained *trainer.Delta // the first delta that holds weights
	tokens := map[string]bool{}
	for i, d := range deltas {
		if tokens[d.ModifierToken] {
			return nil, fmt.Errorf("eval: merging deltas: %s (delta %d) is trained with token %s, which another delta uses too; the merged model could not tell them apart",
				d.ClassNoun, i, d.ModifierToken)
		}
		tokens[d.ModifierToken] = true
		if d.BaseModelID != first.BaseModelID {
			return nil, fmt.Errorf("eval: merging deltas: %s was trained on base model %s, %s on %s",
				d.ModifierToken, d.BaseModelID, first.ModifierToken, first.BaseModelID)
		}
		if len(d.Weights) == 0 {
			continue
		}
		if trained == nil {
			trained = d
		} else if len(d.Weights) != len(trained.Weights) {
			return nil, fmt.Errorf("eval: merging deltas: %s holds %d weights, %s %d",
				d.ModifierToken, len(d.Weights), trained.ModifierToken, len(trained.Weights))
		}
	}
	if trained == nil {
		return map[string][]float32{}, nil
	}
	out := make(map[string][]float32, len(trained.Weights))
	for name, w0 := range trained.Weights {
		sum := make([]float64, len(w0))
		for _, d := range deltas {
			w, err := mergeInput(base, d, name, trained)
			if err != nil {
				return nil, err
			}
			for i, v := range w {
				sum[i] += float64(v)
			}
		}
		m := make([]float32, len(w0))
		for i, v := range sum {
			m[i] = float32(v / float64(len(deltas)))
		}
		out[name] = m
	}
	return out, nil
}

// mergeInput is delta d's weight name for MergeDeltas: its own, or base's when d holds
// no weights; it must have the size and shape of ref's.
func mergeInput(base *nn.Params, d *trainer.Delta, name string, ref *trainer.Delta) ([]float32, error) {
	want := ref.Weights[name]
	if len(d.Weights) == 0 {
		p := base.Get(name)
		if p == nil {
			return nil, fmt.Errorf("eval: merging deltas: the base model has no weight %q (held by %s)", name, ref.ModifierToken)
		}
		if !slices.Equal([]int(p.Shape()), ref.Shapes[name]) {
			return nil, fmt.Errorf("eval: merging deltas: weight %q is %v in the base model, %v in %s", name, []int(p.Shape()), ref.Shapes[name], ref.ModifierToken)
		}
		return p.Value.Data().([]float32), nil
	}
	w, ok := d.Weights[name]
	if !ok {
		return nil, fmt.Errorf("eval: merging deltas: %s lacks weight %q", d.ModifierToken, name)
	}
	if len(w) != len(want) || !slices.Equal(d.Shapes[name], ref.Shapes[name]) {
		return nil, fmt.Errorf("eval: merging deltas: weight %q is %v in %s, %v in %s",
			name, d.Shapes[name], d.ModifierToken, ref.Shapes[name], ref.ModifierToken)
	}
	return w, nil
}

// ApplyWeights overwrites parameters of params in place with weights (graphs read
// parameter values in place, so the next run uses them) and returns a function that
// puts the previous values back. It changes nothing when a name or size is wrong.
func ApplyWeights(params *nn.Params, weights map[string][]float32) (restore func(), err error) {
	names := make([]string, 0, len(weights))
	for name, w := range weights {
		p := params.Get(name)
		if p == nil {
			return nil, fmt.Errorf("eval: the model has no parameter %q", name)
		}
		if n := len(p.Value.Data().([]float32)); n != len(w) {
			return nil, fmt.Errorf("eval: parameter %q has %d values, the merged weight %d", name, n, len(w))
		}
		names = append(names, name)
	}
	saved := make(map[string][]float32, len(names))
	for _, name := range names {
		dst := params.Get(name).Value.Data().([]float32)
		saved[name] = slices.Clone(dst)
		copy(dst, weights[name])
	}
	return func() {
		for name, w := range saved {
			copy(params.Get(name).Value.Data().([]float32), w)
		}
	}, nil
}

// InstallTokens makes every delta's modifier token known to both tokenizers and text
// encoders of p with the delta's learned embedding rows.
func InstallTokens(p *sdxl.PromptEncoder, deltas []*trainer.Delta) error {
	for _, d := range deltas {
		id, known := p.Tokenizer.ID(d.ModifierToken)
		if known && id < p.Tokenizer.VocabSize() {
			return fmt.Errorf("eval: modifier token %q is an ordinary vocabulary entry (id %d)", d.ModifierToken, id)
		}
		if !known {
			// Any vocabulary entry initialises the row; it is overwritten below.
			init, err := InitToken(p.Tokenizer)
			if err != nil {
				return fmt.Errorf("eval: adding token %s: %w", d.ModifierToken, err)
			}
			ids, err := p.AddTokens([]string{d.ModifierToken}, []string{init})
			if err != nil {
				return fmt.Errorf("eval: adding token %s: %w", d.ModifierToken, err)
			}
			id = ids[0]
		}
		for i, enc := range []*clip.TextEncoder{p.TextEncoder, p.TextEncoder2} {
			if err := enc.Model.SetTokenRow(id, d.Rows[i]); err != nil {
				return fmt.Errorf("eval: delta %s tensor %q: %w", d.ModifierToken, trainer.TokenRowName(i, d.ModifierToken), err)
			}
		}
	}
	return nil
}
