package clip

import "strings"

// AddTokens registers tokens that are matched as whole, case-sensitive strings before any
// text fixing or BPE (transformers' add_tokens), such as "<new1>". New tokens take the next
// ids, from the vocabulary size on (49408, 49409, … for CLIP). It returns each token's id.
// A token already in the vocabulary or already added keeps its id and is not re-added (a
// vocabulary token is then still found through BPE, not as a whole string); the empty
// string is no token and maps to the unknown id.
func (t *Tokenizer) AddTokens(tokens ...string) []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]int, len(tokens))
	for i, tok := range tokens {
		if id, ok := t.lookupLocked(tok); ok || tok == "" {
			ids[i] = id
			continue
		}
		ids[i] = t.addLocked(tok)
	}
	return ids
}

// AddedTokens returns the added tokens in id order.
func (t *Tokenizer) AddedTokens() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return append([]string(nil), t.addedList...)
}

func (t *Tokenizer) addLocked(tok string) int {
	id := t.size
	t.added[tok] = id
	t.addedList = append(t.addedList, tok)
	t.size++
	return id
}

// ID returns the id of a token string exactly as written: an added token or a vocabulary
// entry ("dog</w>" is the whole word, "dog" the word-initial piece); no text fixing or BPE.
func (t *Tokenizer) ID(token string) (int, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	id, ok := t.lookupLocked(token)
	return id, ok
}

// LookupTokens converts token strings to ids without BPE, unknown strings becoming the
// unknown id. It is what transformers' tokenizer.encode([s], add_special_tokens=False) does
// with a list: the training scripts initialise the "<new1>" embedding row from
// LookupTokens("ktn") = [42170], not from Encode("ktn") = [74, 7248].
func (t *Tokenizer) LookupTokens(tokens ...string) []int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ids := make([]int, len(tokens))
	for i, tok := range tokens {
		ids[i], _ = t.lookupLocked(tok)
	}
	return ids
}

// lookupLocked maps a token string to its id, added tokens first, then the vocabulary;
// unknown strings give the unknown id and false.
func (t *Tokenizer) lookupLocked(tok string) (int, bool) {
	if id, ok := t.added[tok]; ok {
		return id, true
	}
	if id, ok := t.vocab[tok]; ok {
		return id, true
	}
	return t.unk, false
}

// textSpan is a piece of input text: either an added token or ordinary text.
type textSpan struct {
	text  string
	added bool
}

// splitAddedLocked cuts text at added-token occurrences, taking at each point the earliest
// match and, among matches starting there, the longest (transformers' trie split).
func (t *Tokenizer) splitAddedLocked(text string) []textSpan {
	if len(t.addedList) == 0 {
		return []textSpan{{text: text}}
	}
	var spans []textSpan
	start := 0
	for i := 0; i < len(text); {
		best := ""
		for _, tok := range t.addedList {
			if len(tok) > len(best) && strings.HasPrefix(text[i:], tok) {
				best = tok
			}
		}
		if best == "" {
			i++
			continue
		}
		if start < i {
			spans = append(spans, textSpan{text: text[start:i]})
		}
		spans = append(spans, textSpan{text: best, added: true})
		i += len(best)
		start = i
	}
	if start < len(text) {
		spans = append(spans, textSpan{text: text[start:]})
	}
	return spans
}
