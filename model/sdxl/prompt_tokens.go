package sdxl

import (
	"fmt"

	"github.com/latexblend/latexblend/model/clip"
)

// AddTokens registers new whole-string tokens (such as "<new1>") in both tokenizers and
// grows both token embeddings to match, the way the Custom Diffusion training scripts
// do: token i's rows start as copies of the row of initFrom[i] (one entry applies to
// every token), looked up as a raw vocabulary string — tokenizer.encode([s],
// add_special_tokens=False), so "ktn" is id 42170 — in each tokenizer. It returns the
// new ids, which are the same in both tokenizers.
//
// Tokens already known to a tokenizer are rejected: their ids would not be new rows.
// Add tokens before encoding: the encoders rebuild their graphs for the grown tables, and
// an encode running concurrently may see a new id before its row exists (it then fails
// with an error naming the id).
func (p *PromptEncoder) AddTokens(tokens, initFrom []string) ([]int, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	inits, err := broadcastPrompts("initializer tokens", initFrom, nil, len(tokens))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, t := range tokens {
		if t == "" || seen[t] {
			return nil, fmt.Errorf("sdxl: add tokens: token %q is empty or repeated", t)
		}
		seen[t] = true
	}
	parts := []struct {
		name    string
		tok     *clip.Tokenizer
		enc     *clip.TextEncoder
		initIDs []int
	}{{name: TokenizerDir, tok: p.Tokenizer, enc: p.TextEncoder}, {name: Tokenizer2Dir, tok: p.Tokenizer2, enc: p.TextEncoder2}}
	// Check both sides before changing either, so a rejected call changes nothing.
	for i := range parts {
		c := &parts[i]
		if c.tok.Len() != c.enc.Model.NumTokens() {
			return nil, fmt.Errorf("sdxl: add tokens: %s has %d ids but its encoder %d embedding rows", c.name, c.tok.Len(), c.enc.Model.NumTokens())
		}
		for _, t := range tokens {
			if id, known := c.tok.ID(t); known {
				return nil, fmt.Errorf("sdxl: add tokens: %q is already token %d of %s", t, id, c.name)
			}
		}
		for j, s := range inits {
			id, ok := c.tok.ID(s)
			if !ok {
				return nil, fmt.Errorf("sdxl: add tokens: initializer %q for %q is not a single token of %s", s, tokens[j], c.name)
			}
			c.initIDs = append(c.initIDs, id)
		}
	}
	if parts[0].tok.Len() != parts[1].tok.Len() {
		return nil, fmt.Errorf("sdxl: add tokens: the tokenizers have %d and %d ids, so new tokens would get different ids", parts[0].tok.Len(), parts[1].tok.Len())
	}
	var ids []int
	for _, c := range parts {
		added := c.tok.AddTokens(tokens...)
		rows, err := c.enc.AddTokenRows(c.initIDs...)
		if err != nil {
			return nil, fmt.Errorf("sdxl: add tokens: %s: %w", c.name, err)
		}
		for i := range added {
			if added[i] != rows[i] {
				return nil, fmt.Errorf("sdxl: add tokens: %s gave %q id %d but the embedding row is %d", c.name, tokens[i], added[i], rows[i])
			}
		}
		ids = added
	}
	return ids, nil
}
