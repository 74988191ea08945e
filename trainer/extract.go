package trainer

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/model/clip"
)

// ExtractOptions choose what to extract; empty fields come from the delta.
type ExtractOptions struct {
	// ClassNoun and Token default to the delta's class noun and modifier token.
	ClassNoun, Token string
	// Prompt is the concept prompt; it must hold the token right before the class
	// noun. Default "photo of <token> <noun>".
	Prompt string
	// Created stamps the entry (default now).
	Created time.Time
	// Places > 1 adds rows for places 2 … Places (blend.Entry.Places): place k's are
	// taken, under the same fine-tuned projections, from PlacePrompt(Fillers[:k-1],
	// token, noun), the concept after k−1 plain objects. 0 or 1: the bank entry alone.
	Places int
	// Fillers are the plain nouns put before the concept for places 2…; at least
	// Places−1, none holding the class noun.
	Fillers []string
}

// PlacePrompt is the concept prompt of a later place: the concept after one plain
// object per filler, joined as captions are ("a circle and <new1> star", "a circle,
// a square and <new1> star"). The token takes the article's place, as in the bank
// prompt.
func PlacePrompt(fillers []string, token, noun string) string {
	parts := make([]string, 0, len(fillers)+1)
	for _, f := range fillers {
		parts = append(parts, "a "+f)
	}
	parts = append(parts, token+" "+noun)
	if len(parts) <= 2 {
		return strings.Join(parts, " and ")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// DefaultExtractPrompt is the concept prompt of the reference's bank extraction.
func DefaultExtractPrompt(token, noun string) string { return "photo of " + token + " " + noun }

// slotPositions finds the concept slot as the reference does: tokenize the plain
// prompt (the concept prompt with the token replaced by "a") with tokenizer 1, strip
// BOS, cut at the first EOS, find the first occurrence of the class noun's tokens at
// index i (L tokens); in full-sequence coordinates the slot is [i, i+L+1): the
// article/modifier position plus the noun.
func slotPositions(tok *clip.Tokenizer, prompt, token, noun string) (start, end int, err error) {
	plain := strings.Replace(prompt, token, DefaultReplaceArticle, 1)
	ids := tok.EncodePadded(plain)[1:]
	if k := slices.Index(ids, tok.EOS()); k >= 0 {
		ids = ids[:k]
	}
	nounIDs := tok.Encode(noun)
	for i := 0; i+len(nounIDs) <= len(ids); i++ {
		if slices.Equal(ids[i:i+len(nounIDs)], nounIDs) {
			if i == 0 {
				break
			}
			return i, i + len(nounIDs) + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("prompt %q: the class noun %q does not follow a token slot in %q", prompt, noun, plain)
}

// Extract computes a concept entry from a delta on base: the concept prompt is encoded
// with the delta's token rows, and every attn2 layer's K and V are the delta's to_k /
// to_v (the pretrained ones for layers the delta lacks) applied to the slot's rows of
// the prompt embedding — the rows the reference's get_concept_bank stores. base's text
// encoders get the token rows (added when the token is new to them).
func Extract(base *Base, d *Delta, opts ExtractOptions) (*blend.Entry, error) {
	if opts.Token != "" && opts.Token != d.ModifierToken {
		return nil, fmt.Errorf("extract: token %q, but the delta trains %q", opts.Token, d.ModifierToken)
	}
	opts = opts.filled(d.ClassNoun, d.ModifierToken)
	if err := opts.checkPlaces(); err != nil {
		return nil, err
	}
	if d.BaseModelID != "" && d.BaseModelID != base.Identity {
		return nil, fmt.Errorf("extract: the delta was trained on base model %s, %s is %s", d.BaseModelID, base.Dir, base.Identity)
	}
	id, err := installTokenRows(base, d)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	slots, err := opts.slots(base, id)
	if err != nil {
		return nil, err
	}
	params := base.UNet.Params()
	for name := range d.Weights {
		p := params.Get(name)
		if p == nil || !isKV(name) {
			return nil, fmt.Errorf("extract: delta tensor %q is not an attn2 to_k/to_v weight of the base UNet", name)
		}
		if !slices.Equal(d.Shapes[name], []int(p.Shape())) {
			return nil, fmt.Errorf("extract: delta tensor %q has shape %v, the base UNet's %v", name, d.Shapes[name], []int(p.Shape()))
		}
	}
	e := &blend.Entry{ClassNoun: opts.ClassNoun, ModifierToken: opts.Token, NTok: slots[0].end - slots[0].start,
		BaseModel: base.Identity, Recipe: d.Recipe, Created: opts.Created}
	for k, sl := range slots {
		layers, err := slotKV(base, sl.ids1, sl.ids2, sl.start, sl.end, d.Weights)
		if err != nil {
			return nil, fmt.Errorf("extract: place %d: %w", k+1, err)
		}
		if k == 0 {
			e.Layers = layers
			continue
		}
		e.Places = append(e.Places, layers)
		e.PlacePrompts = append(e.PlacePrompts, sl.prompt)
	}
	return e, nil
}

// CheckExtract checks, before any training, that opts can extract the entry of a
// concept trained with token for noun on base: the prompt and fillers are well formed
// and every place's prompt holds the token right before the noun. id is the token's id
// (Trainer.ModifierID); base's tokenizers must know it. A cluster job checks this
// first, so that a bad filler fails the job at once, not after its training.
func CheckExtract(base *Base, opts ExtractOptions, token, noun string, id int) error {
	opts = opts.filled(noun, token)
	if err := opts.checkPlaces(); err != nil {
		return err
	}
	_, err := opts.slots(base, id)
	return err
}

// filled returns o with its empty class noun, token, prompt and time set: the first
// two to noun and token, the prompt to DefaultExtractPrompt, the time to now.
func (o ExtractOptions) filled(noun, token string) ExtractOptions {
	if o.ClassNoun == "" {
		o.ClassNoun = noun
	}
	if o.Token == "" {
		o.Token = token
	}
	if o.Prompt == "" {
		o.Prompt = DefaultExtractPrompt(o.Token, o.ClassNoun)
	}
	if o.Created.IsZero() {
		o.Created = time.Now().UTC()
	}
	return o
}

// extractSlot is the concept's slot in one extraction prompt, with the prompt's padded
// ids for both tokenizers.
type extractSlot struct {
	prompt     string
	ids1, ids2 []int
	start, end int
}

// slots finds the concept's slot (token id followed by the class noun) in the bank
// prompt and in each later place's prompt, in place order.
func (o ExtractOptions) slots(base *Base, id int) ([]extractSlot, error) {
	ids1, ids2, start, end, err := slotIDs(base, o.Prompt, o.Token, o.ClassNoun)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	if ids1[start] != id {
		return nil, fmt.Errorf("extract: prompt %q must hold %s right before %q (position %d holds token %d)", o.Prompt, o.Token, o.ClassNoun, start, ids1[start])
	}
	out := []extractSlot{{o.Prompt, ids1, ids2, start, end}}
	for k := 2; k <= o.Places; k++ {
		prompt := PlacePrompt(o.Fillers[:k-1], o.Token, o.ClassNoun)
		ids1, ids2, s, en, err := slotIDs(base, prompt, o.Token, o.ClassNoun)
		if err != nil {
			return nil, fmt.Errorf("extract: place %d: %w", k, err)
		}
		if ids1[s] != id || en-s != end-start {
			return nil, fmt.Errorf("extract: place %d: the class noun %q is found in a filler of %q before %s; choose fillers that do not hold it", k, o.ClassNoun, prompt, o.Token)
		}
		out = append(out, extractSlot{prompt, ids1, ids2, s, en})
	}
	return out, nil
}

// checkPlaces validates the per-place options before any encoding.
func (o ExtractOptions) checkPlaces() error {
	switch {
	case o.Places < 0 || o.Places > blend.MaxPlaces:
		return fmt.Errorf("extract: %d places, want 1 … %d", o.Places, blend.MaxPlaces)
	case o.Places > 1 && len(o.Fillers) < o.Places-1:
		return fmt.Errorf("extract: %d places need %d filler nouns, %d given", o.Places, o.Places-1, len(o.Fillers))
	}
	for _, f := range o.Fillers[:max(o.Places-1, 0)] {
		if strings.TrimSpace(f) == "" || strings.Contains(f, o.Token) {
			return fmt.Errorf("extract: filler noun %q is empty or holds the modifier token %s", f, o.Token)
		}
	}
	return nil
}

// slotIDs is prompt's slot of token followed by noun ([start, end), see slotPositions)
// and its padded ids for both of base's tokenizers.
func slotIDs(base *Base, prompt, token, noun string) (ids1, ids2 []int, start, end int, err error) {
	p := base.Prompt
	if start, end, err = slotPositions(p.Tokenizer, prompt, token, noun); err != nil {
		return nil, nil, 0, 0, err
	}
	return p.Tokenizer.EncodePadded(prompt), p.Tokenizer2.EncodePadded(prompt), start, end, nil
}

// slotKV encodes the padded prompt ids and returns, for every attn2 layer of base's
// UNet, the K and V of the rows [start, end): weights' to_k / to_v where it has them,
// the base UNet's otherwise.
func slotKV(base *Base, ids1, ids2 []int, start, end int, weights map[string][]float32) (map[string]blend.LayerKV, error) {
	ctx, _, err := base.Prompt.EncodeIDs([][]int{ids1}, [][]int{ids2})
	if err != nil {
		return nil, err
	}
	emb := ctx.Data().([]float32)
	dim := ctx.Shape()[2]
	rows := emb[start*dim : end*dim]
	params := base.UNet.Params()
	layers := map[string]blend.LayerKV{}
	for _, mod := range base.UNet.CrossAttentionModules() {
		var kv [2][]float32
		var c int
		for i, proj := range []string{"to_k", "to_v"} {
			name := mod + "." + proj + ".weight"
			w, ok := weights[name]
			if !ok {
				w = params.Get(name).Value.Data().([]float32)
			}
			c = params.Get(name).Shape()[0]
			kv[i] = project(rows, w, end-start, dim, c)
		}
		layers[mod] = blend.LayerKV{Channels: c, K: kv[0], V: kv[1]}
	}
	return layers, nil
}

// WordsEntry is the entry of a concept the base model already names in words, "a
// checkered star": the K and V, under the base UNet's own to_k / to_v, of the noun and
// the token right before it (the word's last token) in DefaultExtractPrompt(word,
// noun). It is what a perfectly trained concept token standing for word would give,
// so it bounds what onboarding can bring to LatexBlend on this base model (latexblend
// eval's oracle method). A word of several tokens keeps only its last one's rows,
// which in a causal encoder have seen the whole word.
func WordsEntry(base *Base, word, noun string, created time.Time) (*blend.Entry, error) {
	return WordsEntryIn(base, DefaultExtractPrompt(word, noun), word, noun, created)
}

// WordsEntryIn is WordsEntry taken from the given prompt instead of
// DefaultExtractPrompt: the slot is the first place where word's tokens are followed
// by noun's. Taken from a prompt of several objects ("a checkered star and a rainbow
// ring"), an entry keeps the context its words have there, which a bank entry, made
// from a one-object caption, cannot have (latexblend eval's context method).
func WordsEntryIn(base *Base, prompt, word, noun string, created time.Time) (*blend.Entry, error) {
	p := base.Prompt
	wordIDs, nounIDs := p.Tokenizer.Encode(word), p.Tokenizer.Encode(noun)
	if len(wordIDs) == 0 || len(nounIDs) == 0 {
		return nil, fmt.Errorf("words entry: word %q and class noun %q must both hold tokens", word, noun)
	}
	ids1, ids2 := p.Tokenizer.EncodePadded(prompt), p.Tokenizer2.EncodePadded(prompt)
	start := -1
	for i := 1 + len(wordIDs); i+len(nounIDs) <= len(ids1); i++ {
		if slices.Equal(ids1[i-len(wordIDs):i], wordIDs) && slices.Equal(ids1[i:i+len(nounIDs)], nounIDs) {
			start = i - 1
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("words entry: prompt %q does not hold %q right before the class noun %q", prompt, word, noun)
	}
	end := start + 1 + len(nounIDs)
	e := &blend.Entry{ClassNoun: noun, ModifierToken: word, NTok: end - start, BaseModel: base.Identity, Created: created}
	var err error
	if e.Layers, err = slotKV(base, ids1, ids2, start, end, nil); err != nil {
		return nil, fmt.Errorf("words entry: %w", err)
	}
	return e, nil
}

// project computes x·wᵀ for x [n, in] and w [out, in], accumulating in float64.
func project(x, w []float32, n, in, out int) []float32 {
	y := make([]float32, n*out)
	for i := range n {
		xi := x[i*in : (i+1)*in]
		for o := range out {
			wo := w[o*in : (o+1)*in]
			var s float64
			for k, v := range xi {
				s += float64(v) * float64(wo[k])
			}
			y[i*out+o] = float32(s)
		}
	}
	return y
}

// installTokenRows makes the delta's token known to both tokenizers and text encoders
// with the delta's rows, and returns its id.
func installTokenRows(base *Base, d *Delta) (int, error) {
	p := base.Prompt
	id, known := p.Tokenizer.ID(d.ModifierToken)
	if known && id < p.Tokenizer.VocabSize() {
		return 0, fmt.Errorf("modifier token %q is an ordinary vocabulary entry (id %d)", d.ModifierToken, id)
	}
	if !known {
		// The init row is overwritten below; any vocabulary entry serves.
		init, err := initTokenEntry(p.Tokenizer, p.Tokenizer2, DefaultInitToken)
		if err != nil {
			return 0, err
		}
		ids, err := p.AddTokens([]string{d.ModifierToken}, []string{init})
		if err != nil {
			return 0, err
		}
		id = ids[0]
	}
	for i, enc := range []*clip.TextEncoder{p.TextEncoder, p.TextEncoder2} {
		if err := enc.Model.SetTokenRow(id, d.Rows[i]); err != nil {
			return 0, fmt.Errorf("delta tensor %q: %w", TokenRowName(i, d.ModifierToken), err)
		}
	}
	return id, nil
}
