package trainer

import (
	"fmt"
	"slices"
	"strings"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/nn"
)

// trainables are the parameters one training step touches.
type trainables struct {
	// kv are the UNet's attn2 to_k / to_v weights in store order. Recipe.TokenOnly
	// leaves them untrainable: no gradient is computed for them.
	kv []*nn.Param
	// frozen holds the base flow's to_1k / to_1v copies of the pretrained kv (same
	// order), nil without the base flow. With Recipe.TokenOnly it is kv itself: kv
	// never move then, so the base flow needs no copies. The copies get gradients (the
	// reference's have requires_grad=True, so its clipping norm includes them) but are
	// never updated.
	frozen []*nn.Param
	// projection is text_encoder_2's text_projection. The reference leaves it
	// unfrozen (only the encoder layers, final norm and position embeddings are frozen)
	// but out of the optimizer, so it gets a gradient that enters the clipping norm and is
	// never applied; we compute that gradient for the same norm. With Recipe.TokenOnly
	// the norm is the token rows' alone, and it gets no gradient.
	projection *nn.Param
	// tables are the two token-embedding tables; rows are the modifier rows trained.
	tables [2]*nn.Param
	rows   []int
	// encoders are the two text models, tables[i] belonging to encoders[i].
	encoders [2]*clip.TextModel
}

// isKV reports whether a UNet parameter is a trained cross-attention projection.
func isKV(name string) bool {
	return strings.HasSuffix(name, ".attn2.to_k.weight") || strings.HasSuffix(name, ".attn2.to_v.weight")
}

// frozenName is the name of the base flow's frozen copy of a to_k/to_v weight.
func frozenName(name string) string {
	name = strings.Replace(name, ".attn2.to_k.", ".attn2.to_1k.", 1)
	return strings.Replace(name, ".attn2.to_v.", ".attn2.to_1v.", 1)
}

// prepare adds the modifier token to both tokenizers and text encoders (its rows copied
// from the init token's, looked up as a raw vocabulary entry like the reference's
// tokenizer.encode([init])), marks the trainable parameters and, for the base flow,
// copies the pretrained projections. It returns the modifier id.
func prepare(base *Base, r Recipe) (*trainables, int, error) {
	p := base.Prompt
	initEntry, err := initTokenEntry(p.Tokenizer, p.Tokenizer2, r.InitToken)
	if err != nil {
		return nil, 0, err
	}
	var modifier int
	if id, ok := p.Tokenizer.ID(r.ModifierToken); ok {
		// Already added (a Base reused after an earlier setup): the rows stay.
		id2, ok2 := p.Tokenizer2.ID(r.ModifierToken)
		if !ok2 || id2 != id || id < p.Tokenizer.VocabSize() {
			return nil, 0, fmt.Errorf("modifier token %q is already a vocabulary entry (id %d); pick a new token", r.ModifierToken, id)
		}
		modifier = id
	} else {
		ids, err := p.AddTokens([]string{r.ModifierToken}, []string{initEntry})
		if err != nil {
			return nil, 0, fmt.Errorf("adding modifier token: %w", err)
		}
		modifier = ids[0]
	}
	tr := &trainables{rows: []int{modifier}}
	tr.encoders = [2]*clip.TextModel{p.TextEncoder.Model, p.TextEncoder2.Model}
	for i, m := range tr.encoders {
		table := m.TokenEmbedding.Weight
		var proj string
		if m.Projection != nil {
			tr.projection = m.Projection.Weight
			proj = tr.projection.Name
		}
		m.Params().SetTrainable(func(n string) bool { return n == table.Name || (n == proj && !r.TokenOnly) })
		m.TokenEmbedding.TrainRows = []int{modifier}
		tr.tables[i] = table
	}
	u := base.UNet.Params()
	if n := u.SetTrainable(isKV); n == 0 {
		return nil, 0, fmt.Errorf("the UNet in %s has no attn2 to_k/to_v weights", base.Dir)
	}
	tr.kv = u.Trainable()
	if r.TokenOnly {
		// Token-only steps leave the projections as they are, so the backward pass
		// skips their gradients (about 340 M values for SDXL), and the base flow
		// reads them instead of copies (as many again, and their gradients).
		u.SetTrainable(func(string) bool { return false })
		if r.BaseFlow {
			tr.frozen = tr.kv
		}
		return tr, modifier, nil
	}
	if r.BaseFlow {
		store := nn.NewParams(tensor.Float32)
		for _, w := range tr.kv {
			c := store.New(frozenName(w.Name), []int(w.Shape())...)
			copy(c.Value.Data().([]float32), w.Value.Data().([]float32))
			tr.frozen = append(tr.frozen, c)
		}
		if err := store.Err(); err != nil {
			return nil, 0, err
		}
		store.SetTrainable(func(string) bool { return true })
	}
	return tr, modifier, nil
}

// gradBuffers lists the gradient slices that are averaged across ranks and enter the
// clipping norm: every trainable kv and frozen-copy gradient, text_projection's (none
// of them with Recipe.TokenOnly), and the modifier rows of both tables (all other table
// rows have exactly zero gradient).
func (tr *trainables) gradBuffers() [][]float32 {
	var out [][]float32
	for _, p := range tr.gradParams() {
		out = append(out, p.Grad.Data().([]float32))
	}
	for _, t := range tr.tables {
		g := t.Grad.Data().([]float32)
		d := t.Value.Shape()[1]
		for _, r := range tr.rows {
			out = append(out, g[r*d:(r+1)*d])
		}
	}
	return out
}

// gradParams lists the trainable kv, frozen copies and text_projection, in
// gradBuffers' order: the whole parameters that get a gradient.
func (tr *trainables) gradParams() []*nn.Param {
	var out []*nn.Param
	for _, p := range slices.Concat(tr.kv, tr.frozen, []*nn.Param{tr.projection}) {
		if p != nil && p.Trainable() {
			out = append(out, p)
		}
	}
	return out
}

// initTokenEntry returns the vocabulary entry both tokenizers hold for the init word:
// the word itself, as CLIP's vocabulary has "ktn" (the reference's
// tokenizer.encode([word]) lookup), or else its word-final form "word</w>", which is how
// vocabularies built from whole words (the shapes world's) store it.
func initTokenEntry(tok1, tok2 *clip.Tokenizer, word string) (string, error) {
	for _, entry := range []string{word, word + "</w>"} {
		ok := true
		for _, tok := range []*clip.Tokenizer{tok1, tok2} {
			if ids := tok.LookupTokens(entry); len(ids) != 1 || ids[0] == tok.Unknown() {
				ok = false
			}
		}
		if ok {
			return entry, nil
		}
	}
	return "", fmt.Errorf("init token %q (or %q) is not a vocabulary entry of the tokenizers in %s and %s", word, word+"</w>", tok1.Dir(), tok2.Dir())
}
